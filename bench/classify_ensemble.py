"""Benchmark: a seed ensemble of the category model on held-out machines.

Reuses ``bench/classify.py`` (its feature cache, leave-machines-out folds and
accuracy figures). For each fold assignment (``--fold-seeds``; ``none`` is the
default one) and each initial-weight seed (``--seeds``), it fits the shipped
two-level model per fold with that seed and caches the out-of-fold
probabilities of the original hits: the model's final class probabilities and
its two networks' own softmax outputs (class and group). ``report`` then
averages the first ``K`` seeds (0..K-1):

* ``mean of members`` (the ensemble as shipped): the mean of the members' final
  class probabilities, each member a whole two-level model;
* ``levels averaged`` (for comparison only): the group softmaxes averaged and
  the class softmaxes averaged, then combined by the two-level formula once.

``--machine-power P`` (both commands) fits instead with machine-balanced weights:
each example's class weight times ``(mean_m / n_m) ** P`` (see
:func:`fit_machine_balanced`), stored apart.

Usage::

    python bench/classify_ensemble.py fit [--fold-seeds none 1 2] [--seeds 0 1 2 3 4]
                                          [--machine-power 0.5]
    python bench/classify_ensemble.py report [--fold-seeds none 1 2] [--k 1 3 5 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classify import (
    DEFAULT_CORPUS,
    cached_examples,
    core_accuracy,
    machine_folds,
)
from samplemind.analysis import training
from samplemind.analysis.batch import limit_blas_threads
from samplemind.analysis.classify import CategoryModel, Network, group_of
from samplemind.analysis.features import FEATURE_NAMES
from samplemind.analysis.training import Examples, TrainingOptions, fit_model

DEFAULT_STORE = Path(tempfile.gettempdir()) / "samplemind_classify_ensemble"
"""Per-seed out-of-fold probabilities (and the labels), one ``.npz`` per fold seed and seed."""
DEFAULT_CACHE = DEFAULT_STORE / "features.npz"
"""Its own feature cache (``bench/classify.py``'s format and key)."""


def _fold_seed(text: str) -> int | None:
    return None if text == "none" else int(text)


def _store_path(
    store: Path, fold_seed: int | None, seed: int, n_folds: int, machine_power: float = 0.0
) -> Path:
    variant = f"_machine{machine_power:g}" if machine_power > 0 else ""
    return store / f"oof_folds{n_folds}_fs{fold_seed}_seed{seed}{variant}.npz"


def fit_seed(
    examples: Examples, folds: np.ndarray, seed: int, *, machine_power: float = 0.0
) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities (final, class network, group network) with one init seed.

    ``machine_power > 0`` fits with machine-balanced weights (:func:`fit_machine_balanced`).
    """
    options = TrainingOptions(seed=seed)
    tested = ~examples.augmented
    n = len(examples.labels)
    final = class_net = group_net = None
    classes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    for fold in range(int(folds.max()) + 1):
        train = examples.subset(folds != fold)
        if machine_power > 0:
            model = fit_machine_balanced(train, options, machine_power)
        else:
            model = fit_model(train, options=options)
        test = (folds == fold) & tested
        x = examples.features[test]
        z = np.nan_to_num((x - model.mean) / model.scale, nan=0.0, posinf=0.0, neginf=0.0)
        if final is None:
            classes, groups = model.classes, model.groups
            final = np.zeros((n, len(classes)))
            class_net = np.zeros((n, len(classes)))
            group_net = np.zeros((n, len(groups)))
        if model.classes != classes or model.groups != groups:
            raise RuntimeError("a fold lacks a class; use fewer folds")
        assert class_net is not None and group_net is not None
        final[test] = model.probabilities(x)
        class_net[test] = model.network.probabilities(z)
        group_net[test] = model.group_network.probabilities(z)
    assert final is not None and class_net is not None and group_net is not None
    return {
        "final": final[tested],
        "class_net": class_net[tested],
        "group_net": group_net[tested],
        "classes": np.array(classes),
        "groups": np.array(groups),
        "labels": np.array([label for label, t in zip(examples.labels, tested, strict=True) if t]),
        "names": np.array([name for name, t in zip(examples.names, tested, strict=True) if t]),
    }


def fit_machine_balanced(
    examples: Examples, options: TrainingOptions, power: float
) -> CategoryModel:
    """:func:`fit_model` with each example's class weight times ``(mean_m / n_m) ** power``.

    ``n_m`` is the example's machine's count in ``examples`` (copies included, so
    the same ratio as its hits), ``mean_m`` the mean over corpus machines; the
    synthetic renders keep factor 1. Everything else is the shipped fit.
    """
    usable = ~np.all(np.isnan(examples.features), axis=1)
    x = examples.features[usable]
    labels = [label for label, keep in zip(examples.labels, usable, strict=True) if keep]
    machines = [m for m, keep in zip(examples.groups, usable, strict=True) if keep]
    counts = Counter(machines)
    corpus = [n for m, n in counts.items() if not m.startswith("synthetic")]
    mean_count = float(np.mean(corpus))
    factor = np.array(
        [1.0 if m.startswith("synthetic") else (mean_count / counts[m]) ** power for m in machines]
    )
    classes = tuple(sorted(set(labels)))
    groups = tuple(sorted({group_of(label) for label in labels}))
    mean, scale = training._standardisation(x)
    z = np.nan_to_num((x - mean) / scale, nan=0.0)
    networks = []
    for names, targets in (
        (classes, [classes.index(label) for label in labels]),
        (groups, [groups.index(group_of(label)) for label in labels]),
    ):
        y = np.array(targets)
        weights = training._class_weights(y, len(names), power=options.class_weight_power)
        weights = weights * factor
        weights = weights / weights.mean()
        params = training._fit_mlp(z, y, weights, n_classes=len(names), options=options)
        networks.append(Network(*training._unpack(params, z.shape[1], options.hidden, len(names))))
    return CategoryModel(
        feature_names=FEATURE_NAMES, classes=classes, mean=mean, scale=scale,
        network=networks[0], groups=groups, group_network=networks[1],
        threshold=options.threshold,
    )  # fmt: skip


def combine_levels(
    class_net: np.ndarray, group_net: np.ndarray, classes: tuple[str, ...], groups: tuple[str, ...]
) -> np.ndarray:
    """The two-level formula on given class and group softmaxes."""
    members = np.eye(len(groups))[[groups.index(group_of(c)) for c in classes]]
    shares = class_net / (class_net @ members @ members.T)
    result: np.ndarray = group_net @ members.T * shares
    return result


def command_fit(args: argparse.Namespace) -> None:
    args.store.mkdir(parents=True, exist_ok=True)
    examples = cached_examples(args.corpus, args.cache, refresh=False)
    restore = limit_blas_threads()
    try:
        for seed in args.seeds:
            for text in args.fold_seeds:
                fold_seed = _fold_seed(text)
                path = _store_path(args.store, fold_seed, seed, args.folds, args.machine_power)
                if path.exists():
                    continue
                folds = machine_folds(examples, n_folds=args.folds, seed=fold_seed)
                started = time.perf_counter()
                result = fit_seed(examples, folds, seed, machine_power=args.machine_power)
                np.savez(path, **result)  # type: ignore[arg-type]
                print(
                    f"{time.strftime('%H:%M:%S', time.gmtime())} fold seed {text}, init seed "
                    f"{seed}: {time.perf_counter() - started:.0f} s, load "
                    f"{os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        restore()


def _figures(
    truth: np.ndarray, real: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]
) -> tuple[float, float, float]:
    strict, within, _ = core_accuracy(truth[real], probabilities[real], classes)
    predicted = np.array(classes)[probabilities.argmax(axis=1)]
    full = float(np.mean(predicted[real] == truth[real]))
    return within, strict, full


def command_report(args: argparse.Namespace) -> None:
    rows: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    for text in args.fold_seeds:
        fold_seed = _fold_seed(text)
        for k in args.k:
            paths = [
                _store_path(args.store, fold_seed, s, args.folds, args.machine_power)
                for s in range(k)
            ]
            if not all(p.exists() for p in paths):
                print(f"fold seed {text}, K {k}: missing seeds, skipped")
                continue
            loaded = [dict(np.load(p, allow_pickle=False)) for p in paths]
            truth = loaded[0]["labels"]
            real = np.array(
                [not Path(str(n)).name.startswith("synthetic__") for n in loaded[0]["names"]]
            )
            classes = tuple(str(c) for c in loaded[0]["classes"])
            groups = tuple(str(g) for g in loaded[0]["groups"])
            mean_final = np.mean([d["final"] for d in loaded], axis=0)
            levels = combine_levels(
                np.mean([d["class_net"] for d in loaded], axis=0),
                np.mean([d["group_net"] for d in loaded], axis=0),
                classes,
                groups,
            )
            rows.setdefault(("mean of members", k), []).append(
                _figures(truth, real, mean_final, classes)
            )
            rows.setdefault(("levels averaged", k), []).append(
                _figures(truth, real, levels, classes)
            )
            if k == args.k[0]:
                singles = [_figures(truth, real, d["final"], classes)[0] for d in loaded]
                print(
                    f"fold seed {text}: single seeds 0..{k - 1}, within 7: "
                    + " ".join(f"{100 * w:.1f}" for w in singles)
                )
    print(f"\nfold seeds {' / '.join(args.fold_seeds)}; within 7 / strict / full taxonomy (%)\n")
    print("| ensemble | K | " + " | ".join(args.fold_seeds) + " | mean |")
    print("|---|---:|" + "---:|" * (len(args.fold_seeds) + 1))
    for (name, k), figures in rows.items():
        cells = [" / ".join(f"{100 * v:.1f}" for v in f) for f in figures]
        mean = np.mean(figures, axis=0)
        complete = len(figures) == len(args.fold_seeds)
        mean_cell = " / ".join(f"{100 * v:.1f}" for v in mean) if complete else "–"
        print(f"| {name} | {k} | " + " | ".join(cells) + f" | {mean_cell} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("fit", "report"))
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-seeds", nargs="+", default=["none", "1", "2"])
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(5)))
    parser.add_argument("--k", nargs="+", type=int, default=[1, 3, 5, 8])
    parser.add_argument(
        "--machine-power",
        type=float,
        default=0.0,
        help="fit with machine-balanced weights (mean_m / n_m) ** power (0: the shipped fit)",
    )
    args = parser.parse_args()
    print(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    command_fit(args) if args.command == "fit" else command_report(args)


if __name__ == "__main__":
    main()
