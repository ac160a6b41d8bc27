"""Probe (issue 5): does a small CNN on the log-mel spectrogram beat the shipped MLP?

Not part of the engine and not needed by it: a record of the experiment, so it can
be rerun. It needs PyTorch (CPU) in the venv, which the project does not depend on
(``pip install torch==2.13.0``). Steps, each a subcommand:

* ``extract``: per training example (the same list and order as
  ``samplemind train-classifier``: every labelled corpus hit, its 2 augmented copies,
  the 240 synthetic renders), an onset-aligned log-mel patch, dB re. the file's
  loudest mel bin, floor -80 dB, 64 bands (the engine's filterbank):
  ``coarse`` from the engine's own pass (``signal.power``, n_fft 2048, hop 512;
  32 frames = 0.74 s) and ``fine`` from an STFT of ``signal.mono`` (n_fft 1024,
  hop 256; 64 frames = 0.74 s). Cached under ``$TMPDIR/samplemind_cnn``.
* ``mlp``: the shipped MLP's out-of-fold probabilities (``bench/classify.py``'s
  code and folds) for the default, ``--fold-seed 1`` and ``--fold-seed 2`` folds.
* ``train``: the CNN (3 conv 3x3 + batch norm + ReLU + 2x2 max-pool, dropout,
  one linear layer; AdamW, one-cycle schedule, class weights as the MLP's;
  spectrogram jitter: +-2 mel bands, 0-1 frame delay, a raised floor) over the
  same leave-machines-out folds; prints strict / within 7 / full accuracy and the
  late fusion with the MLP (weighted mean of the probabilities).
* ``fuse``: the same figures for saved out-of-fold files (several CNNs averaged).
* ``time``: the CNN's forward pass in numpy (batch norm folded, im2col + matmul),
  checked against torch, median ms per patch.

Torch runs on one thread; run it with ``nice``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import classify as bench  # noqa: E402
from samplemind.analysis import training  # noqa: E402
from samplemind.analysis.batch import limit_blas_threads  # noqa: E402
from samplemind.analysis.decode import decode_audio  # noqa: E402
from samplemind.analysis.embedding import mel_filterbank  # noqa: E402
from samplemind.analysis.signal import prepare, stft_magnitude  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "samplemind_cnn"
FRAMES = {"coarse": 32, "fine": 64}
FLOOR_DB = -80.0
ONSET_POWER = 1e-3
"""The patch starts at the first frame within 30 dB of the loudest."""
FOLD_SEEDS = ("none", "1", "2")


def log_mel_patch(mel: np.ndarray, *, frames: int) -> np.ndarray:
    """Onset-aligned ``(n_mels, frames)`` dB patch of a mel power spectrogram."""
    energy = mel.sum(axis=0)
    out = np.full((mel.shape[0], frames), FLOOR_DB, dtype=np.float32)
    if energy.size == 0 or energy.max() <= 0:
        return out
    onset = int(np.argmax(energy >= energy.max() * ONSET_POWER))
    reference = float(mel.max())
    part = mel[:, onset : onset + frames]
    floor = reference * 10.0 ** (FLOOR_DB / 10.0)
    out[:, : part.shape[1]] = 10.0 * np.log10(np.maximum(part, floor) / reference)
    return out


def patches_of(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(coarse, fine)`` patches of one audio file's bytes."""
    signal = prepare(decode_audio(data))
    bank = mel_filterbank(sample_rate=signal.sample_rate, n_fft=signal.n_fft)
    coarse = log_mel_patch((bank @ signal.power).astype(np.float64), frames=FRAMES["coarse"])
    magnitude = stft_magnitude(signal.mono, n_fft=1024, hop_length=256)
    fine_bank = mel_filterbank(sample_rate=signal.sample_rate, n_fft=1024)
    power = (fine_bank @ (magnitude * magnitude)).astype(np.float64)
    return coarse, log_mel_patch(power, frames=FRAMES["fine"])


def extract(corpus: Path) -> None:
    """Cache the patches and the labels / machines / names (``load_examples`` order)."""
    limit_blas_threads()
    files = training.corpus_files(corpus)
    items: list[tuple[bytes, int]] = []
    labels, groups, names = [], [], []
    for copy in range(training.AUGMENTED_COPIES + 1):
        for path, label in files:
            items.append((path.read_bytes(), copy))
            labels.append(label)
            groups.append(training.machine_of(path))
            names.append(f"{path}{training.AUGMENTED_MARK}{copy}" if copy else str(path))
    renders = training.synthetic_tonal_examples(per_class=training.SYNTHETIC_PER_CLASS, seed=0)
    for index, (name, label, samples) in enumerate(renders, start=len(files) + 1):
        items.append((training.wav_bytes(samples, training.SYNTHETIC_RATE), 0))
        names.append(f"{name}.wav")
        labels.append(label)
        groups.append(f"synthetic{index % 10}")
    started = time.perf_counter()
    coarse, fine = [], []
    for data, copy in items:
        source = training._augmented_bytes(data, copy=copy) if copy > 0 else data
        c, f = patches_of(source)
        coarse.append(c)
        fine.append(f)
    CACHE.mkdir(exist_ok=True)
    np.save(CACHE / "coarse.npy", np.stack(coarse))
    np.save(CACHE / "fine.npy", np.stack(fine))
    np.savez(
        CACHE / "meta.npz", labels=np.array(labels), groups=np.array(groups), names=np.array(names)
    )
    print(f"{len(items)} examples in {time.perf_counter() - started:.0f} s -> {CACHE}")


def load_meta() -> training.Examples:
    meta = np.load(CACHE / "meta.npz")
    return training.Examples(
        np.zeros((len(meta["labels"]), 1)),
        [str(v) for v in meta["labels"]],
        [str(v) for v in meta["groups"]],
        [str(v) for v in meta["names"]],
    )


def mlp_out_of_fold(corpus: Path) -> None:
    """The shipped MLP's out-of-fold probabilities for the three fold assignments."""
    restore = limit_blas_threads()
    examples = bench.cached_examples(corpus, bench.DEFAULT_CACHE, refresh=False)
    saved: dict[str, np.ndarray] = {"names": np.array(examples.names)}
    for tag in FOLD_SEEDS:
        folds = bench.machine_folds(examples, n_folds=5, seed=None if tag == "none" else int(tag))
        probabilities, classes = bench.out_of_fold(examples, folds)
        saved[f"probs_{tag}"] = probabilities
        saved["classes"] = np.array(classes)
        print(f"MLP, fold seed {tag}: {score(probabilities, examples, classes)}", flush=True)
    np.savez(CACHE / "mlp_oof.npz", **saved)
    restore()


def score(
    probabilities: np.ndarray,
    examples: training.Examples,
    classes: tuple[str, ...],
    tested: np.ndarray | None = None,
) -> str:
    """Strict / within 7 over the core groups and full-taxonomy accuracy, corpus hits only
    (of the ``tested`` ones: all by default)."""
    real = ~examples.augmented & np.array([not n.startswith("synthetic__") for n in examples.names])
    if tested is not None:
        real &= tested
    truth = np.array(examples.labels)[real]
    strict, within, _ = bench.core_accuracy(truth, probabilities[real], classes)
    full = float(np.mean(np.array(classes)[probabilities[real].argmax(axis=1)] == truth))
    return f"strict {strict:.1%}, within 7 {within:.1%}, full {full:.1%}"


def build_net(n_classes: int, *, frames: int, widths: tuple[int, int, int], dropout: float) -> Any:
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c1, c2, c3 = widths
            self.conv1, self.bn1 = nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1)
            self.conv2, self.bn2 = nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2)
            self.conv3, self.bn3 = nn.Conv2d(c2, c3, 3, padding=1), nn.BatchNorm2d(c3)
            self.drop = nn.Dropout(dropout)
            self.fc = nn.Linear(c3 * (64 // 8) * (frames // 8), n_classes)

        def forward(self, x: Any) -> Any:
            for conv, bn in (
                (self.conv1, self.bn1),
                (self.conv2, self.bn2),
                (self.conv3, self.bn3),
            ):
                x = F.max_pool2d(F.relu(bn(conv(x))), 2)
            return self.fc(self.drop(x.flatten(1)))

    return Net()


def jitter(x: Any, gen: Any, *, fshift: int, tshift: int, floor: float) -> Any:
    """Spectrogram jitter: shift by up to ``fshift`` bands, delay 0-``tshift`` frames, raise
    the floor to a random level up to ``floor`` (inputs are scaled to [0, 1])."""
    import torch

    n = x.shape[0]
    out = x.clone()
    shifts = torch.randint(-fshift, fshift + 1, (n,), generator=gen)
    for s in shifts.unique().tolist():
        if s == 0:
            continue
        idx = (shifts == s).nonzero().flatten()
        rolled = torch.roll(out[idx], s, dims=2)
        if s > 0:
            rolled[:, :, :s] = rolled[:, :, s : s + 1]
        else:
            rolled[:, :, s:] = rolled[:, :, s - 1 : s]
        out[idx] = rolled
    delays = torch.randint(0, tshift + 1, (n,), generator=gen)
    for s in delays.unique().tolist():
        if s == 0:
            continue
        idx = (delays == s).nonzero().flatten()
        rolled = torch.roll(out[idx], s, dims=3)
        rolled[:, :, :, :s] = 0.0
        out[idx] = rolled
    return torch.maximum(out, torch.rand((n, 1, 1, 1), generator=gen) * floor)


def fit_predict(
    x_train: np.ndarray, y_train: np.ndarray, class_weights: np.ndarray, x_test: np.ndarray,
    n_classes: int, args: argparse.Namespace,
) -> tuple[np.ndarray, Any]:  # fmt: skip
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    widths = tuple(int(w) for w in args.widths.split(","))
    net = build_net(n_classes, frames=x_train.shape[3], widths=widths, dropout=args.dropout)  # type: ignore[arg-type]
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.wd)
    steps = args.epochs * int(np.ceil(len(x_train) / args.batch))
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    weights = torch.from_numpy(class_weights).float()
    for _ in range(args.epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), args.batch):
            idx = order[start : start + args.batch]
            batch = jitter(xt[idx], gen, fshift=2, tshift=1, floor=0.2)
            loss = F.cross_entropy(net(batch), yt[idx], weight=weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    net.eval()
    with torch.no_grad():
        probabilities = torch.softmax(net(torch.from_numpy(x_test)), dim=1).numpy()
    return probabilities, net


def train(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    examples = load_meta()
    x = np.load(CACHE / f"{args.input}.npy")
    x = ((x - FLOOR_DB) / -FLOOR_DB).astype(np.float32)[:, None]
    seed = None if args.fold_seed == "none" else int(args.fold_seed)
    folds = bench.machine_folds(examples, n_folds=5, seed=seed)
    classes = tuple(sorted(set(examples.labels)))
    y = np.array([classes.index(label) for label in examples.labels])
    probabilities = np.zeros((len(y), len(classes)))
    chosen = [int(f) for f in args.folds.split(",")] if args.folds else list(range(5))
    n_params = 0
    for fold in chosen:
        fit = folds != fold
        test = (folds == fold) & ~examples.augmented
        counts = np.bincount(y[fit], minlength=len(classes)).astype(np.float64)
        weights = (fit.sum() / (len(classes) * np.maximum(counts, 1.0))) ** 0.5
        part, net = fit_predict(x[fit], y[fit], weights, x[test], len(classes), args)
        probabilities[test] = part
        n_params = sum(p.numel() for p in net.parameters())
        print(f"fold {fold}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"CNN {args.input}, fold seed {args.fold_seed}, {n_params} parameters: ", end="")
    print(score(probabilities, examples, classes, np.isin(folds, chosen)))
    mlp_file = CACHE / "mlp_oof.npz"
    if mlp_file.exists() and not args.folds:
        report_fusion([probabilities], args.fold_seed, examples, classes)
    if args.out:
        np.savez(args.out, probs=probabilities, folds=folds)


def report_fusion(
    cnns: list[np.ndarray], fold_seed: str, examples: training.Examples, classes: tuple[str, ...]
) -> None:
    mlp = np.load(CACHE / "mlp_oof.npz")
    assert tuple(str(c) for c in mlp["classes"]) == classes
    assert [str(v) for v in mlp["names"]] == examples.names
    mlp_probabilities = mlp[f"probs_{fold_seed}"]
    cnn = np.mean(cnns, axis=0)
    if len(cnns) > 1:
        print(f"  mean of {len(cnns)} CNNs: {score(cnn, examples, classes)}")
    print(f"  MLP: {score(mlp_probabilities, examples, classes)}")
    for weight in (0.3, 0.5, 0.7):
        fused = weight * cnn + (1.0 - weight) * mlp_probabilities
        print(f"  fusion, CNN weight {weight}: {score(fused, examples, classes)}")


def fuse(args: argparse.Namespace) -> None:
    examples = load_meta()
    classes = tuple(sorted(set(examples.labels)))
    report_fusion([np.load(f)["probs"] for f in args.files], args.fold_seed, examples, classes)


def folded_layers(net: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each conv layer as ``(weights (c_out, c_in * 9), bias (c_out, 1))``, batch norm folded."""
    layers = []
    for conv, bn in ((net.conv1, net.bn1), (net.conv2, net.bn2), (net.conv3, net.bn3)):
        gain = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach().numpy()
        w = conv.weight.detach().numpy() * gain[:, None, None, None]
        b = (conv.bias.detach().numpy() - bn.running_mean.numpy()) * gain + bn.bias.detach().numpy()
        layers.append((w.reshape(w.shape[0], -1).astype(np.float32), b.astype(np.float32)[:, None]))
    return layers


def conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(c, f, t)`` -> ``(c_out, f, t)``: a 3x3 'same' convolution as one matmul (im2col)."""
    c, f, t = x.shape
    padded = np.zeros((c, f + 2, t + 2), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = x
    s0, s1, s2 = padded.strides
    columns = np.lib.stride_tricks.as_strided(
        padded, (c, 3, 3, f, t), (s0, s1, s2, s1, s2), writeable=False
    ).reshape(c * 9, f * t)
    out: np.ndarray = (w @ columns + b).reshape(-1, f, t)
    return out


def pool_relu(x: np.ndarray) -> np.ndarray:
    """2x2 max-pool then ReLU, as maxima of strided slices (numpy's multi-axis max is slow)."""
    _, f, t = x.shape
    rows = np.maximum(x[:, 0 : f // 2 * 2 : 2], x[:, 1 : f // 2 * 2 : 2])
    return np.maximum(
        np.maximum(rows[:, :, 0 : t // 2 * 2 : 2], rows[:, :, 1 : t // 2 * 2 : 2]), 0.0
    )


def numpy_forward(
    layers: list[tuple[np.ndarray, np.ndarray]], fc: tuple[np.ndarray, np.ndarray], x: np.ndarray
) -> np.ndarray:
    """Class probabilities of one ``(64, frames)`` patch scaled to [0, 1]."""
    h = x[None].astype(np.float32)
    for w, b in layers:
        h = pool_relu(conv3x3(h, w, b))
    logits = fc[0] @ h.ravel() + fc[1]
    e = np.exp(logits - logits.max())
    probabilities: np.ndarray = e / e.sum()
    return probabilities


def timing(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    limit_blas_threads()
    torch.manual_seed(0)
    frames = FRAMES[args.input]
    net = build_net(17, frames=frames, widths=(8, 16, 32), dropout=0.3)
    for bn in (net.bn1, net.bn2, net.bn3):  # non-trivial statistics, so folding is tested
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
    net.eval()
    layers = folded_layers(net)
    fc = (net.fc.weight.detach().numpy(), net.fc.bias.detach().numpy())
    x = np.random.default_rng(0).random((64, frames)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(net(torch.from_numpy(x)[None, None]), 1).numpy()[0]
    print(
        f"largest difference to torch: {np.abs(numpy_forward(layers, fc, x) - expected).max():.1e}"
    )
    runs = []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(500):
            numpy_forward(layers, fc, x)
        runs.append((time.perf_counter() - started) / 500 * 1000.0)
    parameters = sum(p.numel() for p in net.parameters())
    print(f"{args.input}: {parameters} parameters, numpy forward median {np.median(runs):.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=bench.DEFAULT_CORPUS)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("extract")
    sub.add_parser("mlp")
    p = sub.add_parser("train")
    p.add_argument("--input", choices=sorted(FRAMES), default="coarse")
    p.add_argument("--fold-seed", choices=FOLD_SEEDS, default="none")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--wd", type=float, default=1e-2)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--widths", default="8,16,32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", default="", help="only these folds (comma list), for quick runs")
    p.add_argument("--out", default="", help="save the out-of-fold probabilities (.npz)")
    f = sub.add_parser("fuse")
    f.add_argument("--fold-seed", choices=FOLD_SEEDS, default="none")
    f.add_argument("files", nargs="+")
    t = sub.add_parser("time")
    t.add_argument("--input", choices=sorted(FRAMES), default="coarse")
    args = parser.parse_args()
    if args.command == "extract":
        extract(args.corpus)
    elif args.command == "mlp":
        mlp_out_of_fold(args.corpus)
    elif args.command == "train":
        train(args)
    elif args.command == "fuse":
        fuse(args)
    else:
        timing(args)


if __name__ == "__main__":
    main()
