"""Tempo accuracy on held-out loops: seeds unlike ``bench/analyze.py``'s, so tuning
the estimator on the bench's 30 tempo loops cannot overfit unnoticed.

Sets, rendered like the bench's loops (44.1 kHz, 24-bit WAV, analysed through
the whole decode path, no filename hints):

* ``chords+drums 120-170``: ``--chord-loops`` progressions with drums, drawn by
  the bench's own ``_chord_loop`` from a different random stream;
* ``chords+drums 70-119``: ``--slow-loops`` slower progressions with drums;
* ``drums 60-200``: ``--drum-loops`` drum loops, 1/2/4 bars, any hat grid.

Counts hits within 1 % (and allowing x2 / x1/2) for ours and, unless
``--no-essentia``, for the essentia peer. Accuracy only, nothing is timed.

Usage::

    python bench/tempo_heldout.py [--chord-loops 200] [--slow-loops 60] [--drum-loops 80]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RENDER_RATE, TEMPO_TOLERANCE, _chord_loop

Item = dict[str, Any]


def chord_loops(n: int, *, seed: int) -> list[tuple[np.ndarray, float]]:
    """Progressions with drums at 120-170 BPM (the bench's generator, other seeds)."""
    rng = random.Random(seed)
    loops = []
    for index in range(n):
        samples, truth = _chord_loop(rng, 0.0, 0, seed=1000 + 2 * index)  # even: drums
        loops.append((samples, float(truth["bpm"])))
    return loops


def slow_chord_loops(n: int, *, seed: int) -> list[tuple[np.ndarray, float]]:
    """Progressions with drums at 70-119 BPM."""
    from samplemind.analysis.synthetic import harmony, rhythm

    rng = random.Random(seed)
    loops = []
    for index in range(n):
        bpm = float(rng.randint(70, 119))
        samples = harmony.progression(
            rng.randrange(12),
            rng.choice(sorted(harmony.PROGRESSIONS)),
            bpm=bpm,
            instrument=rng.choice(harmony.INSTRUMENTS),
            voicing=rng.choice(harmony.VOICINGS),
            bass=rng.random() < 0.5,
            drum_pattern=rng.choice(sorted(rhythm.PATTERNS)),
            seed=5000 + index,
            sample_rate=RENDER_RATE,
        )
        loops.append((samples, bpm))
    return loops


def drum_loops(n: int, *, seed: int) -> list[tuple[np.ndarray, float]]:
    """Drum loops at 60-200 BPM, 1, 2 or 4 bars of 2-10 s, any hat grid."""
    from samplemind.analysis.synthetic import rhythm

    rng = random.Random(seed)
    loops = []
    for index in range(n):
        bpm = float(rng.randint(60, 200))
        bars = rng.choice([b for b in (1, 2, 4) if 2.0 <= b * 240.0 / bpm <= 10.0])
        samples = rhythm.drum_loop(
            bpm,
            pattern=rng.choice(sorted(rhythm.PATTERNS)),
            bars=bars,
            hats=rng.choice(["8ths", "16ths", "offbeat", "none"]),
            seed=9000 + index,
            sample_rate=RENDER_RATE,
        )
        loops.append((samples, bpm))
    return loops


def hits(answers: Sequence[float | None], truths: Sequence[float]) -> tuple[int, int]:
    """(strict hits, hits allowing x2 / x1/2) within ``TEMPO_TOLERANCE``."""
    strict = octave = 0
    for answer, truth in zip(answers, truths, strict=True):
        if answer is None:
            continue
        ratio = answer / truth
        strict += abs(ratio - 1.0) <= TEMPO_TOLERANCE
        octave += any(abs(ratio / f - 1.0) <= TEMPO_TOLERANCE for f in (0.5, 1.0, 2.0))
    return strict, octave


def pipelines(with_essentia: bool) -> dict[str, Callable[[str], float | None]]:
    from samplemind.analysis import analyze_file

    chosen: dict[str, Callable[[str], float | None]] = {"ours": lambda path: analyze_file(path).bpm}
    if with_essentia:
        from peers import make_essentia

        essentia = make_essentia()
        chosen["essentia"] = lambda path: essentia(path)["bpm"]
    return chosen


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chord-loops", type=int, default=200)
    parser.add_argument("--slow-loops", type=int, default=60)
    parser.add_argument("--drum-loops", type=int, default=80)
    parser.add_argument("--no-essentia", action="store_true")
    args = parser.parse_args(argv)
    sets = {
        "chords+drums 120-170": chord_loops(args.chord_loops, seed=20261201),
        "chords+drums 70-119": slow_chord_loops(args.slow_loops, seed=777),
        "drums 60-200": drum_loops(args.drum_loops, seed=4242),
    }
    runners = pipelines(not args.no_essentia)
    print(f"{'set':<22} {'n':>4} " + " ".join(f"{name + ' ±1% (x2,x½)':>24}" for name in runners))
    with tempfile.TemporaryDirectory(prefix="samplemind-tempo-") as tmp:
        for set_name, loops in sets.items():
            paths = []
            for index, (samples, _) in enumerate(loops):
                path = Path(tmp) / f"{set_name.split()[0]}_{index:03d}.wav"
                sf.write(path, samples, RENDER_RATE, subtype="PCM_24")
                paths.append(str(path))
            truths = [bpm for _, bpm in loops]
            cells = []
            for run in runners.values():
                strict, octave = hits([run(path) for path in paths], truths)
                cells.append(f"{strict:>15} ({octave:>3})     ")
            print(f"{set_name:<22} {len(loops):>4} " + " ".join(f"{c:>24}" for c in cells))


if __name__ == "__main__":
    main()
