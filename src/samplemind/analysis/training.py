"""Training the category model: labelled corpus + synthetic tonal renders -> NPZ.

``samplemind train-classifier --corpus DIR`` runs :func:`train_from_corpus`.

* **Drums** come from labelled folders (:data:`FOLDER_LABELS`, e.g. ``bd`` ->
  ``kick``, ``lt``/``mt``/``ht`` -> ``tom``); other folders (``misc``) are
  unlabelled and left out. Each hit also gives :data:`AUGMENTED_COPIES` varied
  copies (:func:`~samplemind.analysis.augment.augment_hit`: tuning, EQ tilt,
  saturation, noise floor, tail cut, gain), as another machine might render it;
  they carry their source's machine, so cross-validation never splits them.
* **Tonal classes** (``bass``, ``synth`` for keys and synths, ``pad``) are
  rendered by :func:`synthetic_tonal_examples` with the engine's additive
  instruments (:mod:`samplemind.analysis.synthetic.harmony`); ``vocal`` is not
  learned: no honest synthetic voice exists here.
* Every example goes through the engine's one pass
  (:func:`~samplemind.analysis.pipeline.analyze_bytes_with_features`), so the
  model trains on exactly the vector inference computes.
* The model (:class:`~samplemind.analysis.classify.CategoryModel`) is two
  networks on the same standardised features: one over the classes, one over
  their :data:`~samplemind.analysis.classify.GROUPS` (the 7 core drum groups and
  ``other``), each fitted by full-batch L-BFGS (scipy) on a class-weighted
  cross-entropy with L2; the initial weights come from a fixed seed and BLAS
  runs single-threaded, so the same data gives the same file.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.optimize
import soundfile

from .augment import augment_hit
from .batch import limit_blas_threads
from .classify import MODEL_VERSION, TONAL_CLASSES, CategoryModel, Network, group_of, softmax
from .features import FEATURE_NAMES, N_FEATURES
from .pipeline import analyze_bytes_with_features
from .synthetic.harmony import tone

__all__ = [
    "AUGMENTED_COPIES",
    "DEFAULT_MODEL_PATH",
    "FOLDER_LABELS",
    "Examples",
    "TrainingOptions",
    "corpus_files",
    "extract_features",
    "fit_model",
    "group_folds",
    "load_examples",
    "machine_of",
    "synthetic_tonal_examples",
    "train_from_corpus",
]

FOLDER_LABELS: dict[str, str] = {
    "bd": "kick", "sd": "snare", "cp": "clap", "rim": "rim", "hh": "closed_hat",
    "oh": "open_hat", "cr": "crash", "rd": "ride", "lt": "tom", "mt": "tom", "ht": "tom",
    "sh": "shaker", "tb": "tambourine", "cb": "cowbell", "perc": "percussion", "fx": "fx",
}  # fmt: skip
"""Corpus folder -> category; any other folder (``misc``) is unlabelled."""
DEFAULT_MODEL_PATH = Path(__file__).parent / "models" / "category_model.npz"
AUDIO_SUFFIXES = frozenset({".flac", ".wav", ".aif", ".aiff", ".ogg", ".mp3"})
SYNTHETIC_RATE = 44100
SYNTHETIC_PER_CLASS = 80
AUGMENTED_COPIES = 2
"""Varied copies (:func:`~samplemind.analysis.augment.augment_hit`) per corpus hit."""
AUGMENTED_MARK = "#augmented"
"""Appended to an augmented copy's name in :class:`Examples` (not in what is analysed)."""


@dataclass(frozen=True)
class TrainingOptions:
    """Model size and fit settings (the defaults made the committed model)."""

    hidden: int = 32
    l2: float = 1e-2
    max_iter: int = 600
    seed: int = 0
    threshold: float = 0.5
    class_weight_power: float = 0.5
    """Class weights ``(n / (k n_c)) ** power``: 0 = none, 1 = fully balanced."""


@dataclass(frozen=True)
class Examples:
    """Training examples: ``features`` float64 ``(n, N_FEATURES)``, one label and group each."""

    features: np.ndarray
    labels: list[str]
    groups: list[str]
    names: list[str]

    def subset(self, mask: np.ndarray) -> Examples:
        index = np.flatnonzero(mask)
        return Examples(
            self.features[index],
            [self.labels[i] for i in index],
            [self.groups[i] for i in index],
            [self.names[i] for i in index],
        )

    @property
    def augmented(self) -> np.ndarray:
        """bool ``(n,)``: which examples are augmented copies of a corpus hit."""
        return np.array([AUGMENTED_MARK in name for name in self.names], dtype=bool)


def machine_of(path: str | Path) -> str:
    """The source machine of a corpus file: the name's prefix before ``__``."""
    name = Path(path).name
    return name.split("__", 1)[0] if "__" in name else Path(path).stem


def corpus_files(corpus: Path, *, limit_per_label: int | None = None) -> list[tuple[Path, str]]:
    """``(path, category)`` of every labelled audio file, sorted by path.

    Args:
        corpus: a folder of label folders (:data:`FOLDER_LABELS`).
        limit_per_label: keep only the first ``n`` files (by path) of each
            folder, for quick runs.
    """
    if not corpus.is_dir():
        raise ValueError(f"corpus is not a folder: {corpus}")
    found: list[tuple[Path, str]] = []
    for folder in sorted(p for p in corpus.iterdir() if p.is_dir()):
        label = FOLDER_LABELS.get(folder.name)
        if label is None:
            continue
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        found += [(path, label) for path in files[:limit_per_label]]
    return found


AugmentItem = tuple[str, bytes, int]
"""``(name, file bytes, copy)``: copy 0 is the file itself, copy ``c > 0`` an
augmented variant drawn from the seed ``(c, sha of the bytes)``."""


def extract_features(
    items: Sequence[tuple[str, bytes]] | Sequence[AugmentItem], *, workers: int = 1
) -> np.ndarray:
    """The classifier features of ``(name, file bytes)`` (or :data:`AugmentItem`) items, in order.

    Returns:
        float64 ``(n, N_FEATURES)``; a row is all NaN where the analysis failed.
    """
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=_worker_init) as pool:
            rows = list(pool.map(_features_of, items, chunksize=16))
    else:
        restore = limit_blas_threads()
        try:
            rows = [_features_of(item) for item in items]
        finally:
            restore()
    return np.array(rows, dtype=np.float64).reshape(-1, N_FEATURES)


def _worker_init() -> None:
    limit_blas_threads()


def _features_of(item: tuple[str, bytes] | AugmentItem) -> np.ndarray:
    name, data = item[0], item[1]
    copy = item[2] if len(item) > 2 else 0
    if copy > 0:
        data = _augmented_bytes(data, copy=copy)
    _, features = analyze_bytes_with_features(data, name=name)
    return features if features is not None else np.full(N_FEATURES, np.nan)


def _augmented_bytes(data: bytes, *, copy: int) -> bytes:
    """A WAV of the ``copy``-th augmented variant of an audio file's bytes."""
    samples, sample_rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    digest = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
    rng = np.random.default_rng([copy, digest])
    return wav_bytes(augment_hit(samples, sample_rate=sample_rate, rng=rng), sample_rate)


def synthetic_tonal_examples(
    *, per_class: int = SYNTHETIC_PER_CLASS, seed: int = 0
) -> list[tuple[str, str, np.ndarray]]:
    """Rendered ``(name, category, samples)`` for ``bass``, ``synth`` and ``pad``.

    * ``bass``: one note, MIDI 28-50 (41-147 Hz), saw/square/triangle/sine/pluck,
      0.3-2 s.
    * ``synth``: a note or a triad, MIDI 50-84, saw/square/organ/piano/pluck/
      triangle, 0.25-2.5 s (keys and synths alike).
    * ``pad``: a 3-4 note chord, MIDI 48-76, pad/organ/saw, 2-4 s, with a
      0.15-1 s fade-in.

    Samples are float32 mono at :data:`SYNTHETIC_RATE`, peak 0.3-0.95; the same
    ``seed`` gives the same renders.
    """
    rng = np.random.default_rng(seed)
    renders: list[tuple[str, str, np.ndarray]] = []
    for category in TONAL_CLASSES:
        render = _RENDERERS[category]
        for index in range(per_class):
            samples = render(rng)
            peak = float(np.max(np.abs(samples))) or 1.0
            gain = rng.uniform(0.3, 0.95) / peak
            renders.append((f"synthetic__{category}_{index:03d}", category, samples * gain))
    return renders


def _notes(
    rng: np.random.Generator, midis: Sequence[int], instrument: str, duration: float
) -> np.ndarray:
    voices = [
        tone(m, duration=duration, instrument=instrument, sample_rate=SYNTHETIC_RATE)  # type: ignore[arg-type]
        for m in midis
    ]
    return np.asarray(np.sum(voices, axis=0), dtype=np.float32)


def _render_bass(rng: np.random.Generator) -> np.ndarray:
    instrument = str(rng.choice(["saw", "square", "triangle", "sine", "pluck"]))
    return _notes(rng, [int(rng.integers(28, 51))], instrument, float(rng.uniform(0.3, 2.0)))


def _render_synth(rng: np.random.Generator) -> np.ndarray:
    instrument = str(rng.choice(["saw", "square", "organ", "piano", "pluck", "triangle"]))
    root = int(rng.integers(50, 80))
    midis = [root] if rng.random() < 0.5 else [root, root + int(rng.choice([3, 4])), root + 7]
    return _notes(rng, midis, instrument, float(rng.uniform(0.25, 2.5)))


def _render_pad(rng: np.random.Generator) -> np.ndarray:
    instrument = str(rng.choice(["pad", "organ", "saw"]))
    root = int(rng.integers(48, 68))
    intervals = [0, int(rng.choice([3, 4])), 7] + (
        [int(rng.choice([10, 11, 12]))] * int(rng.random() < 0.5)
    )
    duration = float(rng.uniform(2.0, 4.0))
    samples = _notes(rng, [root + i for i in intervals], instrument, duration)
    fade = max(1, round(float(rng.uniform(0.15, 1.0)) * SYNTHETIC_RATE))
    samples[:fade] *= np.linspace(0.0, 1.0, fade, dtype=np.float32)
    return samples


_RENDERERS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "bass": _render_bass,
    "synth": _render_synth,
    "pad": _render_pad,
}


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """A 24-bit WAV file of float samples ``(n,)``, in memory."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_24")
    return buffer.getvalue()


def load_examples(
    corpus: Path,
    *,
    workers: int = 1,
    synthetic: bool = True,
    limit_per_label: int | None = None,
    synthetic_per_class: int = SYNTHETIC_PER_CLASS,
    augmented_copies: int = AUGMENTED_COPIES,
    seed: int = 0,
) -> Examples:
    """Features of every labelled corpus file, its augmented copies and the synthetic renders."""
    files = corpus_files(corpus, limit_per_label=limit_per_label)
    items: list[AugmentItem] = []
    labels: list[str] = []
    groups: list[str] = []
    names: list[str] = []
    for copy in range(augmented_copies + 1):
        for path, label in files:
            items.append((str(path), path.read_bytes(), copy))
            labels.append(label)
            groups.append(machine_of(path))
            names.append(f"{path}{AUGMENTED_MARK}{copy}" if copy else str(path))
    if synthetic:
        renders = synthetic_tonal_examples(per_class=synthetic_per_class, seed=seed)
        for index, (name, label, samples) in enumerate(renders, start=len(files) + 1):
            items.append((f"{name}.wav", wav_bytes(samples, SYNTHETIC_RATE), 0))
            names.append(f"{name}.wav")
            labels.append(label)
            # Renders of one class share nothing but their generator: spread them
            # over groups so cross-validation folds each get some.
            groups.append(f"synthetic{index % 10}")
    features = extract_features(items, workers=workers)
    return Examples(features, labels, groups, names)


def fit_model(
    examples: Examples,
    *,
    options: TrainingOptions = TrainingOptions(),
    metadata: dict[str, str] | None = None,
) -> CategoryModel:
    """Fit the hierarchical classifier to ``examples`` (rows with NaN are allowed).

    Classes and groups are sorted by name; both networks get the same
    ``options``. Rows whose features are all NaN (failed analyses) are dropped.
    """
    usable = ~np.all(np.isnan(examples.features), axis=1)
    x = examples.features[usable]
    labels = [label for label, keep in zip(examples.labels, usable, strict=True) if keep]
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise ValueError("need examples of at least two classes")
    groups = tuple(sorted({group_of(label) for label in labels}))
    mean, scale = _standardisation(x)
    z = np.nan_to_num((x - mean) / scale, nan=0.0)
    network = _fit_network(z, [classes.index(label) for label in labels], classes, options)
    group_network = _fit_network(
        z, [groups.index(group_of(label)) for label in labels], groups, options
    )
    counts = Counter(labels)
    info = {
        "seed": str(options.seed),
        "hidden": str(options.hidden),
        "l2": repr(options.l2),
        "class_weight_power": repr(options.class_weight_power),
        "examples": str(len(labels)),
        "class_counts": ",".join(f"{c}={counts[c]}" for c in classes),
        **(metadata or {}),
    }
    return CategoryModel(
        feature_names=FEATURE_NAMES,
        classes=classes,
        mean=mean,
        scale=scale,
        network=network,
        groups=groups,
        group_network=group_network,
        threshold=options.threshold,
        version=MODEL_VERSION,
        metadata=info,
    )


def _fit_network(
    z: np.ndarray, targets: list[int], names: tuple[str, ...], options: TrainingOptions
) -> Network:
    """One network from standardised ``z`` to ``targets`` (indices into ``names``).

    A single name (every class in one group) gives a constant network: probability 1.
    """
    d, h = z.shape[1], options.hidden
    if len(names) == 1:
        return Network(np.zeros((d, h)), np.zeros(h), np.zeros((h, 1)), np.zeros(1))
    y = np.array(targets)
    weights = _class_weights(y, len(names), power=options.class_weight_power)
    params = _fit_mlp(z, y, weights, n_classes=len(names), options=options)
    return Network(*_unpack(params, d, h, len(names)))


def _standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.nan_to_num(np.nanmean(x, axis=0), nan=0.0)
    scale = np.nan_to_num(np.nanstd(x, axis=0), nan=1.0)
    return mean, np.where(scale > 1e-9, scale, 1.0)


def _class_weights(y: np.ndarray, n_classes: int, *, power: float) -> np.ndarray:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    per_class = (y.size / (n_classes * np.maximum(counts, 1.0))) ** power
    weights = per_class[y]
    return np.asarray(weights / weights.mean())


def _unpack(
    params: np.ndarray, d: int, h: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    sizes = (d * h, h, h * k, k)
    w1, b1, w2, b2 = np.split(params, np.cumsum(sizes)[:-1])
    return w1.reshape(d, h), b1, w2.reshape(h, k), b2


def _fit_mlp(
    z: np.ndarray, y: np.ndarray, weights: np.ndarray, *, n_classes: int, options: TrainingOptions
) -> np.ndarray:
    n, d = z.shape
    h, k = options.hidden, n_classes
    rng = np.random.default_rng(options.seed)
    initial = np.concatenate(
        [
            rng.normal(0.0, 1.0 / np.sqrt(d), d * h),
            np.zeros(h),
            rng.normal(0.0, 1.0 / np.sqrt(h), h * k),
            np.zeros(k),
        ]
    )
    onehot = np.eye(k)[y]
    total_weight = float(weights.sum())

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        w1, b1, w2, b2 = _unpack(params, d, h, k)
        hidden = np.tanh(z @ w1 + b1)
        probs = softmax(hidden @ w2 + b2)
        log_likelihood = np.log(np.maximum(probs[np.arange(n), y], 1e-300))
        loss = -float(weights @ log_likelihood) / total_weight
        loss += 0.5 * options.l2 * (float(np.sum(w1 * w1)) + float(np.sum(w2 * w2)))
        d_logits = (probs - onehot) * (weights / total_weight)[:, None]
        d_hidden = (d_logits @ w2.T) * (1.0 - hidden * hidden)
        grad = np.concatenate(
            [
                (z.T @ d_hidden + options.l2 * w1).ravel(),
                d_hidden.sum(axis=0),
                (hidden.T @ d_logits + options.l2 * w2).ravel(),
                d_logits.sum(axis=0),
            ]
        )
        return loss, grad

    result = scipy.optimize.minimize(
        loss_and_grad,
        initial,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": options.max_iter},
    )
    return np.asarray(result.x)


def group_folds(groups: Sequence[str], *, n_folds: int, seed: int | None = None) -> np.ndarray:
    """Fold index per example; all examples of a group share a fold.

    Groups are dealt largest first to the fold with the fewest examples so far
    (ties: lowest fold), so the split is deterministic and balanced. With a
    ``seed``, each group's size is scaled by a random factor in [0.5, 1.5) for
    the dealing order only: another balanced split, the same for the same seed.
    """
    if n_folds < 2:
        raise ValueError("n_folds must be >= 2")
    sizes = Counter(groups)
    names = sorted(sizes)
    jitter = dict.fromkeys(names, 1.0)
    if seed is not None:
        factors = np.random.default_rng(seed).uniform(0.5, 1.5, len(names))
        jitter = dict(zip(names, factors.tolist(), strict=True))
    load = [0] * n_folds
    fold_of: dict[str, int] = {}
    for group in sorted(names, key=lambda g: (-sizes[g] * jitter[g], g)):
        fold = min(range(n_folds), key=lambda f: (load[f], f))
        fold_of[group] = fold
        load[fold] += sizes[group]
    return np.array([fold_of[g] for g in groups], dtype=np.int64)


def train_from_corpus(
    corpus: Path,
    *,
    output: Path = DEFAULT_MODEL_PATH,
    workers: int | None = None,
    synthetic: bool = True,
    limit_per_label: int | None = None,
    augmented_copies: int = AUGMENTED_COPIES,
    options: TrainingOptions = TrainingOptions(),
) -> CategoryModel:
    """Extract, fit and write the model; returns it."""
    examples = load_examples(
        corpus,
        workers=workers or os.cpu_count() or 1,
        synthetic=synthetic,
        limit_per_label=limit_per_label,
        augmented_copies=augmented_copies,
        seed=options.seed,
    )
    restore = limit_blas_threads()  # one thread: the same sums in the same order every run
    try:
        facts = {"synthetic": str(synthetic).lower(), "augmented_copies": str(augmented_copies)}
        model = fit_model(examples, options=options, metadata=facts)
    finally:
        restore()
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    return model
