"""What kind of sound is this: the category of a sample, with its confidence.

The taxonomy (:data:`TAXONOMY`) is the one a producer recognises. A one-shot is
classified by a small hierarchical model (:class:`CategoryModel`, numpy only):
standardised features go to two one-hidden-layer networks, one over the
:data:`GROUPS` (the 7 core drum groups and ``other``), one over the classes;
a class's probability is its group's probability times its share within the
group. It is trained by ``samplemind train-classifier`` and shipped as
``models/category_model.npz`` (no pickles), loaded once per process. A loop is
not given to the model: its category follows from its content,

* ``melodic_loop`` when the engine found a key in it (tonal content),
* ``drum_loop`` otherwise (no key: percussive or atonal),

so a loop's ``category_confidence`` and ``category_top3`` stay ``None``.

Rules for a one-shot (``category_source`` says which side decided):

* a filename or folder that names a category of the taxonomy (``Kick_01.wav``,
  ``BD 3``, ``hats/``; see :mod:`~samplemind.analysis.hints`) decides:
  ``"audio+filename"`` when the model's confident top class agrees, else
  ``"filename"``. Measured on unseen drum machines (``bench/classify.py``), when
  the two disagree and the model is above its threshold, the name is right 273
  times out of 378 and the model 73;
* with no such name, the model's top class decides (``"audio"``) when its
  probability reaches the threshold (``model.threshold``, stored in the model
  file); below it the category is ``"unknown"`` (source ``None``), never a
  confident wrong guess;
* ``category_confidence`` and ``category_top3`` are always the model's own
  probabilities, whatever decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DRUM_CLASSES",
    "GROUPS",
    "LOOP_CATEGORIES",
    "MODEL_FILE",
    "MODEL_VERSION",
    "TAXONOMY",
    "TONAL_CLASSES",
    "CategoryDecision",
    "CategoryModel",
    "Network",
    "decide_category",
    "group_of",
    "load_category_model",
]

MODEL_VERSION = 2
"""Bumped whenever the features or the file layout change (2: the group network)."""
MODEL_FILE = "category_model.npz"
DRUM_CLASSES: tuple[str, ...] = (
    "kick", "snare", "clap", "rim", "closed_hat", "open_hat", "crash", "ride", "tom",
    "shaker", "tambourine", "cowbell", "percussion", "fx",
)  # fmt: skip
TONAL_CLASSES: tuple[str, ...] = ("bass", "synth", "pad")
"""Tonal classes learned from synthetic renders; ``synth`` covers keys and synths."""
LOOP_CATEGORIES: tuple[str, ...] = ("drum_loop", "melodic_loop")
TAXONOMY: tuple[str, ...] = (
    *DRUM_CLASSES, "bass", "keys", "synth", "pad", "vocal", *LOOP_CATEGORIES, "unknown",
)  # fmt: skip
"""Every category a sample can have (``keys`` and ``vocal`` only from a filename
hint or a user's correction: the model does not learn them)."""
GROUPS: tuple[str, ...] = (
    "kick", "snare", "clap", "closed_hat", "open_hat", "cymbal", "tom", "other",
)  # fmt: skip
"""The groups of the model's first level: the 7 core drum groups (``cymbal`` is
``crash`` + ``ride``) and ``other`` for every other class (rim, shaker,
tambourine, cowbell, percussion, fx and the tonal classes)."""
_GROUP_OF: dict[str, str] = {"crash": "cymbal", "ride": "cymbal"}
UNKNOWN = "unknown"
TOP_N = 3


def group_of(category: str) -> str:
    """The :data:`GROUPS` member a class belongs to."""
    group = _GROUP_OF.get(category, category)
    return group if group in GROUPS else "other"


@dataclass(frozen=True)
class Network:
    """One tanh hidden layer and a softmax: ``softmax(W2 tanh(W1 z + b1) + b2)``.

    Attributes:
        hidden_weights, hidden_bias: float64 ``(d, h)`` and ``(h,)``.
        output_weights, output_bias: float64 ``(h, k)`` and ``(k,)``.
    """

    hidden_weights: np.ndarray
    hidden_bias: np.ndarray
    output_weights: np.ndarray
    output_bias: np.ndarray

    def probabilities(self, z: np.ndarray) -> np.ndarray:
        """Softmax outputs of standardised inputs ``z`` ``(d,)`` or ``(n, d)``."""
        hidden = np.tanh(z @ self.hidden_weights + self.hidden_bias)
        return softmax(hidden @ self.output_weights + self.output_bias)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The weights as float32, named ``prefix + field``."""
        return {
            f"{prefix}hidden_weights": self.hidden_weights.astype(np.float32),
            f"{prefix}hidden_bias": self.hidden_bias.astype(np.float32),
            f"{prefix}output_weights": self.output_weights.astype(np.float32),
            f"{prefix}output_bias": self.output_bias.astype(np.float32),
        }

    @classmethod
    def from_arrays(cls, data: Any, prefix: str) -> Network:
        """Read what :meth:`arrays` wrote (as float64)."""
        return cls(
            *(
                data[f"{prefix}{name}"].astype(np.float64)
                for name in ("hidden_weights", "hidden_bias", "output_weights", "output_bias")
            )
        )


@dataclass(frozen=True)
class CategoryModel:
    """A trained hierarchical classifier over standardised features ``z = (x - mean) / scale``.

    ``P(class) = P_group(group of class) * P_class(class) / P_class(classes of that group)``:
    the group network decides between the :data:`GROUPS` present, the class
    network shares each group's probability among its classes. Rows sum to 1.

    Attributes:
        feature_names: names of the input features, in order (length ``d``).
        classes: the class names (length ``k``).
        mean, scale: standardisation, float64 ``(d,)``; a NaN input becomes 0.
        network: the class network (``k`` outputs).
        groups: the groups of the classes, sorted by name (length ``g``).
        group_network: the group network (``g`` outputs, in ``groups`` order).
        threshold: lowest top-class probability reported as the category.
        version: :data:`MODEL_VERSION` of the code that trained it.
        metadata: free-form training facts (seed, corpus counts, ...).
    """

    feature_names: tuple[str, ...]
    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    network: Network
    groups: tuple[str, ...]
    group_network: Network
    threshold: float
    version: int = MODEL_VERSION
    metadata: dict[str, str] = field(default_factory=dict)
    _members: np.ndarray = field(init=False, repr=False, compare=False)
    """float64 ``(k, g)``: 1 where a class belongs to a group."""
    _fused: tuple[np.ndarray, ...] = field(init=False, repr=False, compare=False)
    """Both networks as one: hidden layers side by side, output layers block-diagonal."""

    def __post_init__(self) -> None:
        expected = tuple(sorted({group_of(c) for c in self.classes}))
        if self.groups != expected:
            raise ValueError(f"groups must be {expected}, got {self.groups}")
        members = np.eye(len(self.groups))[self.class_groups]
        object.__setattr__(self, "_members", members)
        one, two = self.network, self.group_network
        output = np.zeros((one.output_weights.shape[0] + two.output_weights.shape[0],
                           one.output_weights.shape[1] + two.output_weights.shape[1]))  # fmt: skip
        output[: one.output_weights.shape[0], : one.output_weights.shape[1]] = one.output_weights
        output[one.output_weights.shape[0] :, one.output_weights.shape[1] :] = two.output_weights
        fused = (
            np.hstack([one.hidden_weights, two.hidden_weights]),
            np.concatenate([one.hidden_bias, two.hidden_bias]),
            output,
            np.concatenate([one.output_bias, two.output_bias]),
        )
        object.__setattr__(self, "_fused", fused)

    @property
    def class_groups(self) -> np.ndarray:
        """int ``(k,)``: index into :attr:`groups` of each class."""
        return np.array([self.groups.index(group_of(c)) for c in self.classes])

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities.

        Args:
            features: float ``(d,)`` or ``(n, d)`` raw features (NaN allowed).

        Returns:
            float64 ``(k,)`` or ``(n, k)``, each row summing to 1.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.shape[-1] != len(self.feature_names):
            raise ValueError(f"expected {len(self.feature_names)} features, got {x.shape[-1]}")
        z = np.nan_to_num((x - self.mean) / self.scale, nan=0.0, posinf=0.0, neginf=0.0)
        w1, b1, w2, b2 = self._fused  # both networks in one pass (fewer numpy calls)
        logits = np.tanh(z @ w1 + b1) @ w2 + b2  # bounded: the hidden layer is in [-1, 1]
        exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
        k, members = len(self.classes), self._members
        within, groups = exp[..., :k], exp[..., k:]
        # a class's share of its group needs no normalised class softmax: the sum cancels
        shares = within / (within @ members @ members.T)
        result: np.ndarray = (groups / groups.sum(axis=-1, keepdims=True)) @ members.T * shares
        return result

    def save(self, path: str | Path) -> None:
        """Write the model as a compressed, pickle-free ``.npz`` (weights as float32)."""
        arrays: dict[str, Any] = {
            "version": np.array(self.version),
            "feature_names": np.array(self.feature_names),
            "classes": np.array(self.classes),
            "groups": np.array(self.groups),
            "mean": self.mean,
            "scale": self.scale,
            **self.network.arrays(""),
            **self.group_network.arrays("group_"),
            "threshold": np.array(self.threshold),
            "metadata_keys": np.array(sorted(self.metadata)),
            "metadata_values": np.array([self.metadata[k] for k in sorted(self.metadata)]),
        }
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, source: str | Path | bytes) -> CategoryModel:
        """Read a model written by :meth:`save` (a path or the file's bytes).

        Raises:
            ValueError: the file is of another :data:`MODEL_VERSION`.
        """
        handle = BytesIO(source) if isinstance(source, bytes) else source
        with np.load(handle, allow_pickle=False) as data:
            version = int(data["version"])
            if version != MODEL_VERSION:
                raise ValueError(f"model file version {version}, this code reads {MODEL_VERSION}")
            keys = [str(k) for k in data["metadata_keys"]]
            values = [str(v) for v in data["metadata_values"]]
            return cls(
                feature_names=tuple(str(n) for n in data["feature_names"]),
                classes=tuple(str(c) for c in data["classes"]),
                mean=data["mean"].astype(np.float64),
                scale=data["scale"].astype(np.float64),
                network=Network.from_arrays(data, ""),
                groups=tuple(str(g) for g in data["groups"]),
                group_network=Network.from_arrays(data, "group_"),
                threshold=float(data["threshold"]),
                version=version,
                metadata=dict(zip(keys, values, strict=True)),
            )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(k,)`` or ``(n, k)`` logits."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    result: np.ndarray = shifted / shifted.sum(axis=-1, keepdims=True)
    return result


@lru_cache(maxsize=1)
def load_category_model() -> CategoryModel | None:
    """The shipped model, read once per process; ``None`` if it is missing or stale.

    A model trained by another :data:`MODEL_VERSION` or on other features is
    ignored (every one-shot is then ``unknown`` unless a filename names it).
    """
    from .features import FEATURE_NAMES

    resource = resources.files("samplemind.analysis").joinpath("models", MODEL_FILE)
    if not resource.is_file():
        return None
    try:
        model = CategoryModel.load(resource.read_bytes())
    except (KeyError, ValueError):  # another version's layout
        return None
    if model.version != MODEL_VERSION or model.feature_names != FEATURE_NAMES:
        return None
    return model


@dataclass(frozen=True)
class CategoryDecision:
    """The record's category fields: ``category``, its confidence, top 3 and source."""

    category: str
    confidence: float | None = None
    top3: list[dict[str, Any]] | None = None
    source: str | None = None


def decide_category(
    *,
    kind: str | None,
    key: str | None,
    probabilities: np.ndarray | None,
    classes: tuple[str, ...] = (),
    threshold: float = 1.0,
    hint_category: str | None = None,
) -> CategoryDecision:
    """Apply the rules of the module docstring.

    Args:
        kind: the engine's ``"one_shot"`` or ``"loop"`` (``None`` if unknown).
        key: the engine's key, e.g. ``"A minor"``, or ``None``.
        probabilities: the model's ``(k,)`` probabilities for a one-shot, or
            ``None`` (a loop, or no model).
        classes: the model's class names (length ``k``).
        threshold: the model's threshold in (0, 1].
        hint_category: the filename hint's category, if any.
    """
    if kind == "loop":
        return CategoryDecision("melodic_loop" if key else "drum_loop", source="audio")
    hint = hint_category if hint_category in TAXONOMY else None
    if probabilities is None:
        return _from_hint(hint, confidence=None, top3=None)
    order = np.argsort(-probabilities, kind="stable")[:TOP_N]
    top3 = [
        {"category": classes[i], "confidence": round(float(probabilities[i]), 3)} for i in order
    ]
    best, confidence = classes[order[0]], round(float(probabilities[order[0]]), 3)
    confident = confidence >= threshold
    if hint is not None:
        source = "audio+filename" if confident and hint == best else "filename"
        return CategoryDecision(hint, confidence, top3, source)
    if confident:
        return CategoryDecision(best, confidence, top3, "audio")
    return CategoryDecision(UNKNOWN, confidence, top3, None)


def _from_hint(
    hint: str | None, *, confidence: float | None, top3: list[dict[str, Any]] | None
) -> CategoryDecision:
    if hint is None:
        return CategoryDecision(UNKNOWN, confidence, top3, None)
    return CategoryDecision(hint, confidence, top3, "filename")
