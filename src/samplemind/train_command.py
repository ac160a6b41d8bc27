"""``samplemind train-classifier --corpus DIR``: train and write the category model.

Deterministic: the same corpus and options write the same model file (the
committed ``analysis/models/category_model.npz`` was made with the defaults).
"""

from __future__ import annotations

from pathlib import Path

import click

from samplemind.analysis.training import (
    AUGMENTED_COPIES,
    DEFAULT_MODEL_PATH,
    TrainingOptions,
    train_from_corpus,
)

__all__ = ["train_classifier"]


@click.command("train-classifier")
@click.option(
    "--corpus",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of label folders (bd, sd, cp, hh, oh, ...); misc/ is left out.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_MODEL_PATH,
    show_default=True,
    help="Where to write the model (.npz).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Processes [default: CPUs]."
)
@click.option(
    "--no-synthetic", is_flag=True, help="Leave out the synthetic tonal classes (bass, synth, pad)."
)
@click.option(
    "--limit-per-label",
    type=click.IntRange(min=1),
    default=None,
    help="Use only the first N files of each label folder (a quick run).",
)
@click.option(
    "--augmented-copies",
    type=click.IntRange(min=0),
    default=AUGMENTED_COPIES,
    show_default=True,
    help="Varied copies of each corpus hit (tuning, EQ, saturation, noise, tail cut).",
)
@click.option("--seed", type=int, default=TrainingOptions.seed, show_default=True)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=TrainingOptions.threshold,
    show_default=True,
    help="Lowest top-class probability reported as the category (else unknown).",
)
def train_classifier(
    corpus: Path,
    output: Path,
    workers: int | None,
    no_synthetic: bool,
    limit_per_label: int | None,
    augmented_copies: int,
    seed: int,
    threshold: float,
) -> None:
    """Train the sound-category model from labelled folders and write it."""
    options = TrainingOptions(seed=seed, threshold=threshold)
    model = train_from_corpus(
        corpus,
        output=output,
        workers=workers,
        synthetic=not no_synthetic,
        limit_per_label=limit_per_label,
        augmented_copies=augmented_copies,
        options=options,
    )
    counts = model.metadata.get("class_counts", "")
    click.echo(f"trained on {model.metadata.get('examples')} examples: {counts}")
    click.echo(f"wrote {output} ({output.stat().st_size} bytes, {len(model.classes)} classes)")
