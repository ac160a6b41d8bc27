"""Benchmark: our analysis pipeline against librosa- and essentia-based peers.

Same files, one run. Each pipeline runs single-threaded (OMP/OpenBLAS/MKL/numba
threads = 1) in a fresh process per timed pass (``bench/peers.py``), so its peak
RSS is its own, after one warm-up call per set (import and warm-up times are
reported apart). ``--repeats`` rounds run every pipeline in turn, and the
figures are medians over rounds, in wall time and in CPU time. Sets:

* ``one_shots``: real drum one-shots from the corpus, stratified over the label
  folders with a fixed seed (timed; also: how often a pipeline names a key for a
  drum hit, which has none).
* ``loops``: synthetic loops rendered to WAV (44.1 kHz, 24-bit) from
  ``samplemind.analysis.synthetic``: drum loops at known tempi and chord loops
  in known keys (timed; tempo and key accuracy).
* ``loudness``: EBU-style test signals of known loudness (accuracy only).

File names carry no tempo or key, so no pipeline gets a filename hint.

Usage::

    python bench/analyze.py [--one-shots 300] [--loops 40] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import pick_corpus_files
from peers import PITCH_CLASSES, SINGLE_THREAD_ENV

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "drums"
PIPELINE_NAMES = (
    "ours",
    "ours+embedding",
    "ours-no-category",
    "ours-peers-work",
    "librosa",
    "essentia",
)
RENDER_RATE = 44100
TEMPO_TOLERANCE = 0.01


# ------------------------------------------------------------------ the sets
def render_loops(out_dir: Path, n: int, *, seed: int) -> list[dict[str, Any]]:
    """Half drum loops (known tempo), half chord loops (known key, and tempo)."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    n_chords = n // 2 if _harmony_available() else 0
    for index in range(n):
        bpm, bars = _loop_tempo(rng)
        if index < n - n_chords:
            samples, truth = _drum_loop(rng, bpm, bars, seed=index)
        else:
            samples, truth = _chord_loop(rng, bpm, bars, seed=index)
        path = out_dir / f"loop_{index:03d}.wav"
        sf.write(path, samples, RENDER_RATE, subtype="PCM_24")
        items.append({"path": str(path), **truth})
    return items


def _loop_tempo(rng: random.Random) -> tuple[float, int]:
    """A tempo in 70–170 BPM and a bar count giving 2–8 s of 4/4."""
    bpm = float(rng.randint(70, 170))
    bars = rng.choice([b for b in (1, 2, 4) if 2.0 <= b * 240.0 / bpm <= 8.0])
    return bpm, bars


def _drum_loop(
    rng: random.Random, bpm: float, bars: int, *, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    from samplemind.analysis.synthetic import rhythm

    pattern = rng.choice(sorted(rhythm.PATTERNS))
    hats = rng.choice(["8ths", "16ths", "offbeat"])
    samples = rhythm.drum_loop(
        bpm, pattern=pattern, bars=bars, hats=hats, seed=seed, sample_rate=RENDER_RATE
    )
    return samples, {"bpm": bpm, "key": None, "what": f"drums {pattern} {hats}"}


def _harmony_available() -> bool:
    try:
        from samplemind.analysis.synthetic import harmony  # noqa: F401
    except ImportError:
        return False
    return True


def _chord_loop(
    rng: random.Random, bpm: float, bars: int, *, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """A four-bar progression at 120-170 BPM (5.6-8 s); every other one with drums.

    Its tempo counts as known only with drums: chords changing once a bar do
    not name a tempo. ``bpm``/``bars`` from the caller are replaced.
    """
    from samplemind.analysis.synthetic import harmony, rhythm

    bpm = float(rng.randint(120, 170))
    name = rng.choice(sorted(harmony.PROGRESSIONS))
    mode = harmony.PROGRESSIONS[name][0]
    tonic = rng.randrange(12)
    instrument = rng.choice(harmony.INSTRUMENTS)
    drums = rng.choice(sorted(rhythm.PATTERNS)) if seed % 2 == 0 else None
    samples = harmony.progression(
        tonic,
        name,
        bpm=bpm,
        instrument=instrument,
        voicing=rng.choice(harmony.VOICINGS),
        bass=rng.random() < 0.5,
        drum_pattern=drums,
        seed=seed,
        sample_rate=RENDER_RATE,
    )
    truth = {
        "bpm": bpm if drums else None,
        "key": harmony.key_name(tonic, mode),
        "what": f"chords {name} {instrument}" + (f" + {drums} drums" if drums else ""),
    }
    return samples, truth


def render_loudness(out_dir: Path) -> list[dict[str, Any]]:
    """EBU Tech 3341 cases 1-5 (stereo 1 kHz sines, known loudness) at 48 and 44.1 kHz.

    Case 6 (5.0 channels) is left out: essentia's LoudnessEBUR128 takes stereo only.
    """
    from samplemind.analysis.synthetic import tones

    items: list[dict[str, Any]] = []
    for rate in (48000, 44100):
        for case in range(1, 6):
            samples, expected = tones.tech3341_case(case, sample_rate=rate)
            path = out_dir / f"ebu_{case}_{rate}.wav"
            sf.write(path, samples.T, rate, subtype="PCM_24")
            items.append({"path": str(path), "lufs": expected, "what": f"Tech 3341 case {case}"})
    return items


# ------------------------------------------------------------ running peers
def run_pipeline(name: str, manifest_path: Path, out_dir: Path, *, untimed: bool) -> dict[str, Any]:
    """One timed pass of one pipeline in a fresh single-threaded process."""
    out = out_dir / f"result_{name.replace('+', '_')}.json"
    env = {**os.environ, **SINGLE_THREAD_ENV}
    command = [
        sys.executable,
        str(Path(__file__).with_name("peers.py")),
        name,
        str(manifest_path),
        str(out),
        *(["--untimed"] if untimed else []),
    ]
    subprocess.run(command, env=env, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def run_rounds(
    names: Sequence[str], manifest_path: Path, work: Path, *, repeats: int
) -> dict[str, list[dict[str, Any]]]:
    """``repeats`` rounds; each round runs every pipeline once, in turn.

    Interleaving spreads whatever else loads this shared machine over all
    pipelines alike, instead of penalising whichever ran during a busy minute.
    """
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for index in range(repeats):
        load = os.getloadavg()[0]
        print(f"round {index + 1}/{repeats} (load average {load:.2f}):", end="", flush=True)
        for name in names:
            print(f" {name}", end="", flush=True)
            result = run_pipeline(name, manifest_path, work, untimed=index == repeats - 1)
            result["load_before"] = load
            rounds[name].append(result)
        print(flush=True)
    return rounds


# ---------------------------------------------------------------- reporting
def throughput(rounds: list[dict[str, Any]], set_name: str, clock: str) -> float:
    """Median over rounds of files per second on ``clock`` ("wall" or "cpu")."""
    rates = []
    for result in rounds:
        seconds = result["sets"][set_name][clock]
        if seconds and sum(seconds) > 0:
            rates.append(len(seconds) / sum(seconds))
    return statistics.median(rates) if rates else float("nan")


def median_file_ms(rounds: list[dict[str, Any]], set_name: str) -> float:
    """Median over files of each file's median wall time across rounds, in ms."""
    per_round = [result["sets"][set_name]["wall"] for result in rounds]
    per_file = [statistics.median(values) for values in zip(*per_round, strict=True)]
    return 1000 * statistics.median(per_file)


def pitch_class(key: str | None) -> tuple[int, str] | None:
    """``"A minor"``/``"Bb major"``/``"a#m"``-ish names to ``(pitch class, mode)``."""
    if not key:
        return None
    parts = key.replace("♯", "#").replace("♭", "b").split()
    if len(parts) != 2:
        return None
    tonic, mode = parts[0], parts[1].lower()
    flats = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}
    tonic = flats.get(tonic, tonic)
    sharps = {"E#": "F", "B#": "C"}
    tonic = sharps.get(tonic, tonic)
    if tonic not in PITCH_CLASSES or mode not in ("major", "minor"):
        return None
    return PITCH_CLASSES.index(tonic), mode


def tempo_hits(answers: list[dict[str, Any]], truth: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(strict hits, hits allowing x2 / x1/2, files with a true tempo)."""
    strict = octave = total = 0
    for answer, item in zip(answers, truth, strict=True):
        if item.get("bpm") is None:
            continue
        total += 1
        bpm = answer.get("bpm")
        if bpm is None:
            continue
        ratio = bpm / item["bpm"]
        strict += abs(ratio - 1) <= TEMPO_TOLERANCE
        octave += any(abs(ratio / f - 1) <= TEMPO_TOLERANCE for f in (0.5, 1.0, 2.0))
    return strict, octave, total


def key_hits(answers: list[dict[str, Any]], truth: list[dict[str, Any]]) -> tuple[int, int]:
    hits = total = 0
    for answer, item in zip(answers, truth, strict=True):
        if item.get("key") is None:
            continue
        total += 1
        found = pitch_class(answer.get("key"))
        hits += found is not None and found == pitch_class(item["key"])
    return hits, total


def loudness_errors(answers: list[dict[str, Any]], truth: list[dict[str, Any]]) -> list[float]:
    """|measured - true| in LU; a missing value counts as an infinite error."""
    return [
        abs(a["lufs"] - t["lufs"]) if a.get("lufs") is not None else float("inf")
        for a, t in zip(answers, truth, strict=True)
    ]


def report(rounds: dict[str, list[dict[str, Any]]], manifest: dict[str, Any]) -> str:
    lines = [
        "Speed: one process, one thread, medians over rounds; ratio = ours / this "
        "(> 1: ours is faster)",
        f"{'set':<10} {'pipeline':<15} {'files/s':>8} {'CPU files/s':>12} "
        f"{'med ms/file':>12} {'ratio':>7} {'CPU ratio':>10}",
    ]
    timed = [name for name, spec in manifest["sets"].items() if spec["timed"]]
    for set_name in timed:
        ours_wall = throughput(rounds["ours"], set_name, "wall") if "ours" in rounds else None
        ours_cpu = throughput(rounds["ours"], set_name, "cpu") if "ours" in rounds else None
        for name, results in rounds.items():
            wall = throughput(results, set_name, "wall")
            cpu = throughput(results, set_name, "cpu")
            ratio = f"{ours_wall / wall:6.2f}x" if ours_wall else "-"
            cpu_ratio = f"{ours_cpu / cpu:9.2f}x" if ours_cpu else "-"
            lines.append(
                f"{set_name:<10} {name:<15} {wall:8.1f} {cpu:12.1f} "
                f"{median_file_ms(results, set_name):12.2f} {ratio:>7} {cpu_ratio:>10}"
            )
    lines += ["", f"{'pipeline':<15} {'import s':>9} {'warm-up s':>10} {'peak RSS MiB':>13}"]
    for name, results in rounds.items():
        import_s = statistics.median(r["import_s"] for r in results)
        warmup_s = statistics.median(r["warmup_s"] for r in results)
        rss = max(r["max_rss_mib"] for r in results)
        lines.append(f"{name:<15} {import_s:9.2f} {warmup_s:10.2f} {rss:13.0f}")
    lines += ["", "Accuracy (last round's answers)", _accuracy_header()]
    for name, results in rounds.items():
        lines.append(_accuracy_line(name, results[-1], manifest))
    return "\n".join(lines)


def _accuracy_header() -> str:
    return (
        f"{'pipeline':<15} {'tempo ±1%':>11} {'±1% x2,x½':>11} {'key exact':>10} "
        f"{'LUFS |err| mean/max':>20} {'key on drum hits':>17}"
    )


def _accuracy_line(name: str, result: dict[str, Any], manifest: dict[str, Any]) -> str:
    loops = manifest["sets"]["loops"]["truth"]
    loud = manifest["sets"].get("loudness", {}).get("truth", [])
    strict, octave, n_tempo = tempo_hits(result["sets"]["loops"]["answers"], loops)
    keys, n_keys = key_hits(result["sets"]["loops"]["answers"], loops)
    errors = loudness_errors(result["sets"]["loudness"]["answers"], loud) if loud else []
    loud_text = f"{np.mean(errors):.2f} / {np.max(errors):.2f}" if errors else "-"
    shots = result["sets"]["one_shots"]["answers"]
    keyed = sum(a.get("key") is not None for a in shots)
    return (
        f"{name:<15} {strict:>4}/{n_tempo:<6} {octave:>4}/{n_tempo:<6} "
        f"{keys:>4}/{n_keys:<5} {loud_text:>20} {keyed:>7}/{len(shots):<9}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one-shots", type=int, default=300)
    parser.add_argument("--loops", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--pipelines", default=",".join(PIPELINE_NAMES))
    parser.add_argument("--save", type=Path, help="write the raw results as JSON here")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.pipelines.split(",") if name.strip()]
    if not args.corpus.is_dir():
        sys.exit(f"corpus not found: {args.corpus}")

    with tempfile.TemporaryDirectory(prefix="samplemind-bench-") as tmp:
        work = Path(tmp)
        (work / "loops").mkdir()
        (work / "loudness").mkdir()
        loops = render_loops(work / "loops", args.loops, seed=args.seed)
        loudness = render_loudness(work / "loudness")
        shots = [path for _, path in pick_corpus_files(args.corpus, args.one_shots, seed=args.seed)]
        manifest = {
            "sets": {
                "one_shots": {"files": shots, "timed": True, "truth": []},
                "loops": {"files": [i["path"] for i in loops], "timed": True, "truth": loops},
                "loudness": {
                    "files": [i["path"] for i in loudness],
                    "timed": False,
                    "truth": loudness,
                },
            }
        }
        manifest_path = work / "manifest.json"
        manifest_path.write_text(json.dumps(manifest))
        print(
            f"{len(shots)} one-shots, {len(loops)} loops, {len(loudness)} loudness signals; "
            f"{args.repeats} rounds; {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
            flush=True,
        )
        rounds = run_rounds(names, manifest_path, work, repeats=args.repeats)
        if args.save:
            args.save.write_text(json.dumps({"manifest": manifest, "rounds": rounds}))
    print()
    print(report(rounds, manifest))


if __name__ == "__main__":
    main()
