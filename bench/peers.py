"""The pipelines compared by ``bench/analyze.py``, and the timing worker that runs one.

LICENCES: essentia is AGPL-3.0. It is a benchmark peer ONLY, imported here and
nowhere else; ``src/`` never imports essentia (nor librosa or pyloudnorm, which
are also only peers). They come from the ``bench`` extra.

Each pipeline maps a file path to ``{"bpm", "key", "lufs", "kind"}`` (``None``
where it has no answer). They are written as a competent user would write
them: one decode per file, loudness on the native-rate audio, the usual
library calls with their default settings.

Run one pipeline alone for one timed pass (``bench/analyze.py`` does this, in
a fresh process per pipeline and pass, so that its peak RSS is its own)::

    python bench/peers.py PIPELINE MANIFEST.json OUT.json [--untimed]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Fairness: every pipeline runs single-threaded. Must be set before numpy loads.
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}

Result = dict[str, Any]
Pipeline = Callable[[str], Result]

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl-Kessler key profiles (Krumhansl 1990), index 0 = tonic.
KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


# --------------------------------------------------------------------- ours
def make_ours(*, embedding: bool) -> Pipeline:
    from samplemind.analysis import analyze_file

    def ours(path: str) -> Result:
        record = analyze_file(path, embedding=embedding)
        return {
            "bpm": record.bpm,
            "key": record.key,
            "lufs": record.loudness_lufs,
            "kind": record.kind,
            "error": record.error["code"] if record.error else None,
        }

    return ours


def make_ours_without_category() -> Pipeline:
    """Our full record minus the category step (its classifier features and model),
    which issue 5 added after issue 3 set the speed goal: the record issue 3 asked for.

    The step is switched off in the pipeline module, as ``bench/classify.py``'s timing
    does; the record's other fields are unchanged (tags read the category, which
    stays ``None``)."""
    from samplemind.analysis import pipeline

    pipeline._fill_category = lambda *_args, **_kwargs: None  # type: ignore[assignment]
    pipeline.classifier_features = lambda *_args, **_kwargs: None  # type: ignore[assignment]
    return make_ours(embedding=False)


def make_ours_peers_work() -> Pipeline:
    """Our engine doing only what the peers do: decode, integrated loudness on the
    native rate, downmix + resample, kind, tempo (loops) and key. No peaks, pitch,
    descriptors, category or hints: the like-for-like line of the table."""
    from samplemind.analysis.decode import decode_audio
    from samplemind.analysis.loudness import integrated_loudness
    from samplemind.analysis.rhythm import detect_kind, estimate_tempo
    from samplemind.analysis.signal import prepare
    from samplemind.analysis.tonality import estimate_key

    def ours_peers_work(path: str) -> Result:
        decoded = decode_audio(Path(path).read_bytes())
        lufs = integrated_loudness(decoded.samples, sample_rate=decoded.sample_rate)
        signal = prepare(decoded)
        kind = detect_kind(signal)
        tempo = estimate_tempo(signal) if kind == "loop" else None
        key = estimate_key(signal)
        return {
            "bpm": tempo.bpm if tempo is not None else None,
            "key": key.key if key is not None else None,
            "lufs": lufs,
            "kind": kind,
            "error": None,
        }

    return ours_peers_work


# ------------------------------------------------------------------ librosa
def make_librosa() -> Pipeline:
    """librosa + pyloudnorm: load native, loudness, mono 22050 Hz, beat_track,
    chroma_stft + Krumhansl key, 13 MFCCs."""
    import librosa
    import numpy as np
    import pyloudnorm

    profiles = _key_profiles(np)

    def librosa_pipeline(path: str) -> Result:
        y, sr = librosa.load(path, sr=None, mono=False)
        lufs = _pyloudnorm_lufs(pyloudnorm, y, int(sr))
        mono = librosa.resample(librosa.to_mono(y), orig_sr=sr, target_sr=22050)
        tempo, _ = librosa.beat.beat_track(y=mono, sr=22050)
        chroma = librosa.feature.chroma_stft(y=mono, sr=22050)
        librosa.feature.mfcc(y=mono, sr=22050, n_mfcc=13)
        bpm = float(np.atleast_1d(tempo)[0])
        return {
            "bpm": bpm if bpm > 0 else None,
            "key": _krumhansl_key(np, chroma.mean(axis=1), profiles),
            "lufs": lufs,
            "kind": None,
            "error": None,
        }

    return librosa_pipeline


def _pyloudnorm_lufs(pyloudnorm: Any, y: Any, sr: int) -> float | None:
    audio = y.T if y.ndim == 2 else y
    try:
        value = float(pyloudnorm.Meter(sr).integrated_loudness(audio))
    except ValueError:  # shorter than one 400 ms gating block
        return None
    return value if value > -200 else None


def _key_profiles(np: Any) -> Any:
    major, minor = np.asarray(KK_MAJOR), np.asarray(KK_MINOR)
    rows = [np.roll(major, k) for k in range(12)] + [np.roll(minor, k) for k in range(12)]
    return np.asarray(rows)


def _krumhansl_key(np: Any, chroma_mean: Any, profiles: Any) -> str | None:
    if not np.any(chroma_mean > 0):
        return None
    scores = [np.corrcoef(chroma_mean, profile)[0, 1] for profile in profiles]
    best = int(np.nanargmax(scores))
    mode = "major" if best < 12 else "minor"
    return f"{PITCH_CLASSES[best % 12]} {mode}"


# ----------------------------------------------------------------- essentia
def make_essentia() -> Pipeline:
    """essentia: AudioLoader (native), LoudnessEBUR128, MonoMixer + Resample to
    44.1 kHz, RhythmExtractor2013 (default method, multifeature), KeyExtractor."""
    import essentia
    import essentia.standard as es

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    mixer = es.MonoMixer()
    rhythm = es.RhythmExtractor2013()
    key_extractor = es.KeyExtractor(sampleRate=44100)

    def essentia_pipeline(path: str) -> Result:
        audio, sr, channels, *_ = es.AudioLoader(filename=path)()
        sr = float(sr)
        lufs = _essentia_lufs(es, audio, sr)
        mono = mixer(audio, channels)
        if sr != 44100:
            mono = es.Resample(inputSampleRate=sr, outputSampleRate=44100)(mono)
        bpm = float(rhythm(mono)[0])
        key, scale, _strength = key_extractor(mono)
        return {
            "bpm": bpm if bpm > 0 else None,
            "key": f"{key} {scale}",
            "lufs": lufs,
            "kind": None,
            "error": None,
        }

    return essentia_pipeline


def _essentia_lufs(es: Any, audio: Any, sr: float) -> float | None:
    # AudioLoader returns a mono file as (x, 0) stereo, which measures as mono.
    integrated = float(es.LoudnessEBUR128(sampleRate=sr)(audio)[2])
    return integrated if integrated > -200 else None


PIPELINES: dict[str, Callable[[], Pipeline]] = {
    "ours": lambda: make_ours(embedding=False),
    "ours+embedding": lambda: make_ours(embedding=True),
    "ours-no-category": make_ours_without_category,
    "ours-peers-work": make_ours_peers_work,
    "librosa": make_librosa,
    "essentia": make_essentia,
}


# ------------------------------------------------------------------- worker
def run_worker(name: str, manifest: dict[str, Any], *, untimed: bool) -> dict[str, Any]:
    """Time one pipeline over the manifest's sets, one pass, in this process.

    The manifest maps set names to ``{"files": [...], "timed": bool}``; the
    untimed (accuracy-only) sets run only when ``untimed``. Returns import and
    warm-up times, per-file wall and CPU seconds, the answers, and this
    process's peak RSS over the timed sets.
    """
    started = time.perf_counter()
    pipeline = PIPELINES[name]()
    import_s = time.perf_counter() - started
    warmup_s = _warm_up(pipeline, manifest)
    sets: dict[str, Any] = {}
    timed = {k: v for k, v in manifest["sets"].items() if v["timed"]}
    for set_name, spec in timed.items():
        sets[set_name] = _time_pass(pipeline, spec["files"])
    # Measured before the long (up to 100 s) loudness signals are loaded.
    max_rss_mib = _max_rss_mib()
    if untimed:
        for set_name, spec in manifest["sets"].items():
            if not spec["timed"]:
                sets[set_name] = _time_pass(pipeline, spec["files"])
    return {
        "pipeline": name,
        "import_s": import_s,
        "warmup_s": warmup_s,
        "sets": sets,
        "max_rss_mib": max_rss_mib,
    }


def _max_rss_mib() -> float:
    """Peak RSS of this process, MiB.

    Linux keeps ``ru_maxrss`` across ``execve``, so a worker started by a parent
    that held the rendered signals would inherit the parent's peak; ``VmHWM``
    belongs to the new address space alone. ``ru_maxrss`` elsewhere.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm_up(pipeline: Pipeline, manifest: dict[str, Any]) -> float:
    """One call per timed set on its first file: JIT, caches, lazy imports."""
    started = time.perf_counter()
    for spec in manifest["sets"].values():
        if spec["timed"] and spec["files"]:
            pipeline(spec["files"][0])
    return time.perf_counter() - started


def _time_pass(pipeline: Pipeline, files: list[str]) -> dict[str, list[Any]]:
    """Run ``pipeline`` on each file: wall and CPU seconds per file, and the answers.

    CPU time is quoted too because this machine is shared: other processes
    stretch wall time but hardly the CPU time a pipeline needs.
    """
    wall: list[float] = []
    cpu: list[float] = []
    answers: list[Result] = []
    for path in files:
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        try:
            answer = pipeline(path)
        except Exception as exc:  # a peer failing on a file is a miss, not a crash
            answer = {"bpm": None, "key": None, "lufs": None, "kind": None,
                      "error": f"{type(exc).__name__}: {exc}"}  # fmt: skip
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
        answers.append(answer)
    return {"wall": wall, "cpu": cpu, "answers": answers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", choices=sorted(PIPELINES))
    parser.add_argument("manifest", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--untimed", action="store_true", help="also run the accuracy-only sets")
    args = parser.parse_args()
    for variable, value in SINGLE_THREAD_ENV.items():
        if os.environ.get(variable) != value:
            sys.exit(f"run with {variable}={value} (bench/analyze.py sets it)")
    warnings.filterwarnings("ignore")  # librosa warns on every short one-shot
    manifest = json.loads(args.manifest.read_text())
    result = run_worker(args.pipeline, manifest, untimed=args.untimed)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
