"""Choosing benchmark files from the labelled drum corpus."""

from __future__ import annotations

import random
from pathlib import Path


def pick_corpus_files(corpus: Path, n: int, *, seed: int) -> list[tuple[str, str]]:
    """``n`` (label, path) pairs, round-robin over the label folders, shuffled with ``seed``."""
    rng = random.Random(seed)
    by_label = {
        folder.name: sorted(str(p) for p in folder.glob("*.flac"))
        for folder in sorted(corpus.iterdir())
        if folder.is_dir()
    }
    for files in by_label.values():
        rng.shuffle(files)
    picked: list[tuple[str, str]] = []
    while len(picked) < n and any(by_label.values()):
        for label, files in by_label.items():
            if files and len(picked) < n:
                picked.append((label, files.pop()))
    return picked
