"""Benchmark: how well does the category model generalise to unseen drum machines?

Extracts the classifier features of every labelled corpus file plus the synthetic
tonal renders (exactly as ``samplemind train-classifier`` does; cached under /tmp),
then runs a leave-machines-out cross-validation: group k-fold by machine (the
file-name prefix before ``__``), so hits of one machine are never in both train
and test (the trainer's augmented copies of a hit sit in its machine's fold and are
trained on, never tested). Each fold fits the model with the shipped training
options; the out-of-fold probabilities of the original hits give:

* the confusion matrix and per-class precision / recall, full taxonomy;
* accuracy over the 7 core groups (kick, snare, clap, closed_hat, open_hat,
  cymbal = crash + ride, tom), two ways: ``strict`` (the model's top class over
  all 17; a tom called ``percussion`` is wrong) and ``within 7`` (the top of the
  7 groups' summed probabilities: "given it is one of these");
* the ``unknown`` threshold: coverage (share of hits given a category) against
  accuracy on those covered;
* the filename hint against the model where they disagree (why a name that
  names a category decides);
* the machines that carry most of the core-group errors (strict), and the
  accuracy over the other machines;
* per-file time of the engine (one process, BLAS single-threaded) with and
  without the category step, on corpus one-shots, interleaved, medians.

Usage::

    python bench/classify.py [--corpus DIR] [--folds 5] [--timing-files 300]
                             [--fold-seed N] [--cache /tmp/samplemind_classify_features.npz]
                             [--refresh]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from samplemind.analysis import pipeline  # noqa: E402
from samplemind.analysis.batch import limit_blas_threads  # noqa: E402
from samplemind.analysis.features import FEATURE_NAMES  # noqa: E402
from samplemind.analysis.hints import parse_hints  # noqa: E402
from samplemind.analysis.training import (  # noqa: E402
    Examples,
    TrainingOptions,
    corpus_files,
    fit_model,
    group_folds,
    load_examples,
)

DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "drums"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "samplemind_classify_features.npz"
CORE_GROUPS = ("kick", "snare", "clap", "closed_hat", "open_hat", "cymbal", "tom")
MERGE = {"crash": "cymbal", "ride": "cymbal"}
THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _cache_key() -> str:
    """Changes with the feature names and with any of the engine's source files."""
    digest = hashlib.sha256("\n".join(FEATURE_NAMES).encode())
    for source in sorted((REPO / "src" / "samplemind" / "analysis").rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def cached_examples(corpus: Path, cache: Path, *, refresh: bool) -> Examples:
    """The training examples, from ``cache`` when it was made for these features."""
    if cache.exists() and not refresh:
        with np.load(cache, allow_pickle=False) as data:
            if str(data["key"]) == _cache_key():
                return Examples(
                    data["features"],
                    [str(v) for v in data["labels"]],
                    [str(v) for v in data["groups"]],
                    [str(v) for v in data["names"]],
                )
    started = time.perf_counter()
    examples = load_examples(corpus, workers=os.cpu_count() or 1)
    print(f"extracted {len(examples.labels)} examples in {time.perf_counter() - started:.1f} s")
    np.savez(
        cache,
        key=np.array(_cache_key()),
        features=examples.features,
        labels=np.array(examples.labels),
        groups=np.array(examples.groups),
        names=np.array(examples.names),
    )
    return examples


def machine_folds(examples: Examples, *, n_folds: int, seed: int | None = None) -> np.ndarray:
    """Fold per example, dealt over the original hits' machines; copies follow their machine.

    ``seed`` (``--fold-seed``) picks another balanced assignment (see :func:`group_folds`).
    """
    originals = ~examples.augmented
    groups = [g for g, keep in zip(examples.groups, originals, strict=True) if keep]
    folds = group_folds(groups, n_folds=n_folds, seed=seed)
    fold_of = dict(zip(groups, folds.tolist(), strict=True))
    return np.array([fold_of[g] for g in examples.groups], dtype=np.int64)


def out_of_fold(
    examples: Examples, folds: np.ndarray, *, options: TrainingOptions = TrainingOptions()
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Probabilities of each example from the model that did not see its fold.

    Trains on the other folds' hits and their augmented copies; the probabilities
    of the augmented copies themselves are left at zero (not tested).
    """
    probabilities: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    tested = ~examples.augmented
    for fold in range(int(folds.max()) + 1):
        model = fit_model(examples.subset(folds != fold), options=options)
        test = (folds == fold) & tested
        part = model.probabilities(examples.features[test])
        if probabilities is None:
            classes = model.classes
            probabilities = np.zeros((len(examples.labels), len(classes)))
        if model.classes != classes:
            raise RuntimeError("a fold lacks a class; use fewer folds")
        probabilities[test] = part
    assert probabilities is not None
    return probabilities, classes


def confusion_table(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> str:
    short = [c[:5] for c in classes]
    lines = [
        "| true \\ predicted | " + " | ".join(short) + " | recall | precision |",
        "|---|" + "---:|" * (len(classes) + 2),
    ]
    for name in classes:
        row = [int(np.sum((truth == name) & (predicted == name_p))) for name_p in classes]
        support = int(np.sum(truth == name))
        called = int(np.sum(predicted == name))
        hits = int(np.sum((truth == name) & (predicted == name)))
        recall = hits / support if support else float("nan")
        precision = hits / called if called else float("nan")
        cells = " | ".join(str(v) if v else "·" for v in row)
        lines.append(f"| {name} ({support}) | {cells} | {recall:.2f} | {precision:.2f} |")
    return "\n".join(lines)


def core_accuracy(
    truth: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]
) -> tuple[float, float, int]:
    """``(strict, within 7, n)`` accuracy over the core groups' test hits."""
    names = np.array(classes)
    truth_group = np.array([MERGE.get(t, t) for t in truth])
    predicted_group = np.array([MERGE.get(p, p) for p in names[probabilities.argmax(axis=1)]])
    core = np.isin(truth_group, CORE_GROUPS)
    summed = np.stack(
        [
            probabilities[:, [i for i, c in enumerate(classes) if MERGE.get(c, c) == g]].sum(1)
            for g in CORE_GROUPS
        ],
        axis=1,
    )
    within = np.array(CORE_GROUPS)[summed.argmax(axis=1)]
    strict = float(np.mean(predicted_group[core] == truth_group[core]))
    return strict, float(np.mean(within[core] == truth_group[core])), int(core.sum())


def threshold_table(truth: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]) -> str:
    names = np.array(classes)
    predicted = names[probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    truth_group = np.array([MERGE.get(t, t) for t in truth])
    predicted_group = np.array([MERGE.get(p, p) for p in predicted])
    core = np.isin(truth_group, CORE_GROUPS)
    lines = [
        "| threshold | coverage | accuracy (covered, full taxonomy) "
        "| coverage (7 groups) | accuracy (covered, 7 groups strict) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for threshold in THRESHOLDS:
        covered = confidence >= threshold
        core_covered = covered & core
        accuracy = np.mean(predicted[covered] == truth[covered])
        covered_core = np.mean(predicted_group[core_covered] == truth_group[core_covered])
        lines.append(
            f"| {threshold:.1f} | {covered.mean():.1%} | {accuracy:.1%} "
            f"| {core_covered.sum() / core.sum():.1%} | {covered_core:.1%} |"
        )
    return "\n".join(lines)


def hint_table(
    names: list[str], truth: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...]
) -> str:
    """Filename hint against the model, on the hits where both name a category and disagree."""
    labels = np.array(classes)
    predicted = labels[probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    hint = np.array([parse_hints(name).category or "" for name in names])
    named = np.isin(hint, labels)
    disagree = named & (hint != predicted)
    lines = [
        f"filename names a category for {int(named.sum())} of {truth.size} hits; "
        f"it is right for {np.mean(hint[named] == truth[named]):.1%} of them; "
        f"the model disagrees on {int(disagree.sum())}",
        "",
        "| model confidence >= | disagreements | model right | filename right |",
        "|---:|---:|---:|---:|",
    ]
    for threshold in (0.0, 0.5, 0.7, 0.9):
        chosen = disagree & (confidence >= threshold)
        model_right = int(np.sum(predicted[chosen] == truth[chosen]))
        hint_right = int(np.sum(hint[chosen] == truth[chosen]))
        lines.append(f"| {threshold:.1f} | {int(chosen.sum())} | {model_right} | {hint_right} |")
    return "\n".join(lines)


def machine_table(
    groups: list[str], truth: np.ndarray, probabilities: np.ndarray, classes: tuple[str, ...],
    *, top: int = 10,
) -> str:  # fmt: skip
    """The machines with the most core-group errors (strict), and how much they weigh."""
    machine = np.array(groups)
    truth_group = np.array([MERGE.get(t, t) for t in truth])
    predicted = np.array(classes)[probabilities.argmax(axis=1)]
    predicted_group = np.array([MERGE.get(p, p) for p in predicted])
    core = np.isin(truth_group, CORE_GROUPS)
    wrong = core & (predicted_group != truth_group)
    names, errors = np.unique(machine[wrong], return_counts=True)
    order = np.lexsort((names, -errors))
    lines = [
        f"{int(wrong.sum())} core-group errors (strict) on {int(core.sum())} hits from "
        f"{len(set(machine[core]))} machines; {len(set(machine[core]) - set(names))} machines "
        "have none",
        "",
        "| machine | errors / core hits | share of all errors (cumulative) | main confusions |",
        "|---|---:|---:|---|",
    ]
    cumulative = 0
    for index in order[:top]:
        name, count = names[index], int(errors[index])
        cumulative += count
        mine = wrong & (machine == name)
        pairs, pair_counts = np.unique(
            [f"{t}→{p}" for t, p in zip(truth_group[mine], predicted_group[mine], strict=True)],
            return_counts=True,
        )
        main = ", ".join(
            f"{pairs[i]} {pair_counts[i]}" for i in np.argsort(-pair_counts, kind="stable")[:3]
        )
        hits = int(np.sum(core & (machine == name)))
        lines.append(f"| {name} | {count} / {hits} | {cumulative / wrong.sum():.0%} | {main} |")
    lines.append("")
    for n in (5, 10):
        chosen = np.isin(machine, names[order[:n]])
        rest = core & ~chosen
        accuracy = float(np.mean(predicted_group[rest] == truth_group[rest]))
        lines.append(
            f"without the {n} machines with most errors ({int((core & chosen).sum())} core "
            f"hits): strict {accuracy:.1%} on the other {int(rest.sum())}"
        )
    return "\n".join(lines)


def timing(corpus: Path, n_files: int) -> dict[str, float]:
    """Median ms per file of ``analyze_bytes`` with and without the category step."""
    files = corpus_files(corpus)
    step = max(1, len(files) // n_files)
    chosen = [(str(path), path.read_bytes()) for path, _ in files[::step][:n_files]]
    original_fill, original_features = pipeline._fill_category, pipeline.classifier_features

    def without() -> None:
        pipeline._fill_category = _no_category  # type: ignore[assignment]
        pipeline.classifier_features = _no_features  # type: ignore[assignment]

    def with_() -> None:
        pipeline._fill_category = original_fill  # type: ignore[assignment]
        pipeline.classifier_features = original_features  # type: ignore[assignment]

    restore = limit_blas_threads()
    try:
        times: dict[str, list[float]] = {"with": [], "without": [], "with, embedding": [],
                                         "without, embedding": []}  # fmt: skip
        for name, data in chosen[:10]:  # warm up: model load, caches
            pipeline.analyze_bytes(data, name=name)
        for index, (name, data) in enumerate(chosen):
            order: list[tuple[str, Callable[[], None]]] = [("with", with_), ("without", without)]
            for label, switch in order if index % 2 == 0 else order[::-1]:
                switch()
                for embed in (False, True):
                    started = time.perf_counter()
                    pipeline.analyze_bytes(data, name=name, embedding=embed)
                    key = f"{label}, embedding" if embed else label
                    times[key].append(1000.0 * (time.perf_counter() - started))
        with_()
    finally:
        restore()
    return {key: float(np.median(values)) for key, values in times.items()}


def _no_category(*_args: Any, **_kwargs: Any) -> None:
    return None


def _no_features(*_args: Any, **_kwargs: Any) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--fold-seed", type=int, default=None, help="another machine-to-fold assignment"
    )
    parser.add_argument("--timing-files", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--refresh", action="store_true", help="re-extract the features")
    args = parser.parse_args()
    print(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    examples = cached_examples(args.corpus, args.cache, refresh=args.refresh)
    folds = machine_folds(examples, n_folds=args.folds, seed=args.fold_seed)
    restore = limit_blas_threads()
    try:
        probabilities, classes = out_of_fold(examples, folds)
    finally:
        restore()
    originals = ~examples.augmented
    augmented_count = int((~originals).sum())
    examples, probabilities = examples.subset(originals), probabilities[originals]
    truth = np.array(examples.labels)
    predicted = np.array(classes)[probabilities.argmax(axis=1)]
    real = np.array([not name.startswith("synthetic__") for name in examples.names])
    machines = len({g for g, r in zip(examples.groups, real, strict=True) if r})
    seed = "" if args.fold_seed is None else f", fold seed {args.fold_seed}"
    print(f"\n{args.folds}-fold{seed} leave-machines-out CV: {int(real.sum())} corpus hits from "
          f"{machines} machines, {int((~real).sum())} synthetic tonal renders; "
          f"trained with {augmented_count} augmented copies\n")  # fmt: skip
    print(confusion_table(truth, predicted, list(classes)))
    print(f"\naccuracy, corpus hits, full taxonomy: {np.mean(predicted[real] == truth[real]):.1%}")
    print(f"accuracy, synthetic tonal renders:    {np.mean(predicted[~real] == truth[~real]):.1%}")
    strict, within, n_core = core_accuracy(truth[real], probabilities[real], classes)
    print(f"accuracy over the 7 core groups ({n_core} hits): strict {strict:.1%}, ", end="")
    print(f"within 7 {within:.1%}\n")
    print(threshold_table(truth[real], probabilities[real], classes))
    real_names = [name for name, r in zip(examples.names, real, strict=True) if r]
    print()
    print(hint_table(real_names, truth[real], probabilities[real], classes))
    real_groups = [group for group, r in zip(examples.groups, real, strict=True) if r]
    print()
    print(machine_table(real_groups, truth[real], probabilities[real], classes))
    if args.timing_files > 0:
        print(f"\nper-file ms, {args.timing_files} corpus one-shots, one process, ", end="")
        print(f"load {os.getloadavg()}")
        medians = timing(args.corpus, args.timing_files)
        for key, value in medians.items():
            print(f"  {key:>20}: {value:.2f} ms")
        plain = medians["with"] / medians["without"]
        embedded = medians["with, embedding"] / medians["without, embedding"]
        print(f"  ratio with / without: {plain:.3f}; with embedding: {embedded:.3f}")


if __name__ == "__main__":
    main()
