"""The one-pass pipeline (analyze_file / analyze_bytes) and the batch runner."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from samplemind.analysis import AnalysisRecord, analyze_bytes, analyze_file, batch, pipeline
from samplemind.analysis import signal as signal_module
from samplemind.analysis.synthetic import harmony
from samplemind.analysis.synthetic import rhythm as synth_rhythm

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "drums"
RATE = 44100


def write_wav(
    path: Path, samples: np.ndarray, *, rate: int = RATE, subtype: str = "PCM_24"
) -> Path:
    sf.write(path, samples, rate, subtype=subtype)
    return path


def drum_loop_file(folder: Path, name: str = "groove.wav", *, bpm: float = 120.0) -> Path:
    samples = synth_rhythm.drum_loop(bpm, pattern="rock", bars=2, sample_rate=RATE)
    return write_wav(folder / name, samples)


def bass_808_file(folder: Path, name: str = "sub.wav", *, freq_hz: float = 49.0) -> Path:
    samples = synth_rhythm.bass_808(freq_hz=freq_hz, duration=1.5, sample_rate=RATE)
    return write_wav(folder / name, samples)


def corpus_file(label: str) -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    return sorted((CORPUS / label).glob("*.flac"))[0]


def assert_json_clean(record: AnalysisRecord) -> None:
    json.dumps(record.as_dict(), allow_nan=False)  # raises on NaN/inf


# ------------------------------------------------------------ known answers
def test_drum_loop_has_tempo_and_no_pitch(tmp_path: Path) -> None:
    record = analyze_file(drum_loop_file(tmp_path, bpm=120.0))
    assert record.error is None
    assert record.kind == "loop"
    assert record.bpm is not None and abs(record.bpm - 120.0) <= 1.2
    assert record.bpm_source == "audio"
    assert record.pitch_hz is None and record.root_note is None
    assert (record.format, record.sample_rate, record.channels, record.bit_depth) == (
        "WAV",
        RATE,
        1,
        24,
    )
    assert record.duration == pytest.approx(4.0, abs=1e-3)
    assert_json_clean(record)


def test_808_has_pitch_and_no_tempo_or_key(tmp_path: Path) -> None:
    record = analyze_file(bass_808_file(tmp_path, freq_hz=49.0))  # G1 = 49.0 Hz
    assert record.error is None
    assert record.kind == "one_shot"
    assert record.pitch_hz is not None and abs(record.pitch_hz - 49.0) < 1.0
    assert record.root_note == "G1"
    assert record.bpm is None and record.bpm_source is None
    assert record.key is None


def test_tonal_loop_has_key_and_tempo(tmp_path: Path) -> None:
    """I-IV-V-I in G major on an organ, rock drums at 140 BPM (4 bars, 6.9 s)."""
    samples = harmony.progression(
        7, "I-IV-V-I", bpm=140.0, instrument="organ", drum_pattern="rock", sample_rate=RATE
    )
    record = analyze_file(write_wav(tmp_path / "pad.wav", samples))
    assert record.error is None
    assert record.kind == "loop"
    assert record.key == "G major"
    assert record.key_source == "audio"
    assert record.key_confidence is not None and 0 < record.key_confidence <= 1
    assert record.bpm is not None and abs(record.bpm - 140.0) <= 1.4
    assert record.pitch_hz is None


@pytest.mark.corpus
def test_corpus_kick_is_a_keyless_one_shot() -> None:
    path = corpus_file("bd")
    record = analyze_file(path)
    assert record.error is None
    assert record.kind == "one_shot"
    assert record.key is None and record.bpm is None
    assert record.format == "FLAC"
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record.loudness_lufs is None or -70 < record.loudness_lufs < 0
    assert record.peak_dbfs is not None and record.peak_dbfs <= 0.01
    assert record.spectral_centroid_hz is not None and record.spectral_centroid_hz > 0
    assert record.attack_ms is not None
    assert record.category == "kick" and record.category_source is not None
    assert record.category_top3 is not None and len(record.category_top3) == 3
    assert "punchy" in record.tags and "long" not in record.tags
    assert_json_clean(record)


# ------------------------------------------------------------------- hints
def test_filename_hints_feed_tempo_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    spy(monkeypatch, "estimate_tempo", lambda *a, **kw: seen.update(bpm=kw.get("hint_bpm")))
    spy(monkeypatch, "estimate_key", lambda *a, **kw: seen.update(key=kw.get("hint_key")))
    path = drum_loop_file(tmp_path, "Loop_124bpm_Am.wav", bpm=124.0)
    record = analyze_file(path)
    assert record.hints["bpm"] == 124
    assert record.hints["key"] == "A minor"
    assert seen == {"bpm": 124, "key": "A minor"}
    assert record.bpm is not None and abs(record.bpm - 124.0) <= 1.24
    assert record.bpm_source in ("audio+filename", "filename")


def test_audio_kind_wins_over_a_loop_name(tmp_path: Path) -> None:
    record = analyze_file(bass_808_file(tmp_path, "808_Loop_140bpm.wav"))
    assert record.kind == "one_shot"
    assert record.bpm is None  # a one-shot has no tempo, whatever its name says
    assert record.hints.get("bpm") == 140


def spy(monkeypatch: pytest.MonkeyPatch, name: str, before: Callable[..., Any]) -> list[int]:
    """Wrap ``pipeline.<name>``: call ``before`` with the arguments, count calls."""
    real = getattr(pipeline, name)
    calls: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        before(*args, **kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, name, wrapper)
    return calls


# --------------------------------------------------------------- one pass
def test_one_decode_one_resample_one_stft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every feature plus the embedding, from one decode, one prepare, one STFT."""
    path = write_wav(tmp_path / "hit.wav", synth_rhythm.kick(sample_rate=48000), rate=48000)
    decodes = spy(monkeypatch, "decode_audio", lambda *a, **kw: None)
    prepares = spy(monkeypatch, "prepare", lambda *a, **kw: None)
    stfts = wrap_everywhere(monkeypatch, "stft_magnitude")
    record = analyze_file(path, embedding=True)
    assert record.error is None
    assert (len(decodes), len(prepares), len(stfts)) == (1, 1, 1)


def wrap_everywhere(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count calls to ``signal.<name>`` however a feature module imported it."""
    import sys

    real = getattr(signal_module, name)
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("samplemind.analysis") and getattr(module, name, None) is real:
            monkeypatch.setattr(module, name, counted)
    return calls


def test_sha256_is_of_the_bytes_and_bytes_match_file(tmp_path: Path) -> None:
    path = drum_loop_file(tmp_path)
    data = path.read_bytes()
    from_file = analyze_file(path)
    from_bytes = analyze_bytes(data, name=str(path))
    assert from_file.sha256 == hashlib.sha256(data).hexdigest()
    assert from_bytes.as_dict() == from_file.as_dict()


def test_embedding_only_when_asked(tmp_path: Path) -> None:
    from samplemind.analysis.embedding import EMBEDDING_DIM

    path = bass_808_file(tmp_path)
    assert analyze_file(path).embedding is None
    assert "embedding" not in analyze_file(path).as_dict(include_embedding=False)
    vector = analyze_file(path, embedding=True).embedding
    assert vector is not None and len(vector) == EMBEDDING_DIM
    assert all(isinstance(v, float) for v in vector)
    assert math.isclose(math.fsum(v * v for v in vector), 1.0, abs_tol=1e-4)


# ------------------------------------------------------------------ errors
def _truncated_wav(folder: Path) -> Path:
    """A WAV whose header declares three times the audio the file holds."""
    full = write_wav(folder / "full.wav", np.zeros(RATE, np.float32), subtype="PCM_16")
    data = full.read_bytes()
    return _write(folder / "cut.wav", data[: len(data) // 3])


def _empty_wav(folder: Path) -> Path:
    return write_wav(folder / "empty.wav", np.zeros(0, np.float32), subtype="PCM_16")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BROKEN_FILES: dict[str, Callable[[Path], Path]] = {
    "unsupported_format": lambda d: _write(d / "notes.wav", b"just some text, not audio\n" * 20),
    "decode_error": _truncated_wav,
    "empty_audio": _empty_wav,
}


@pytest.mark.parametrize("code", sorted(BROKEN_FILES))
def test_broken_file_gives_error_code(tmp_path: Path, code: str) -> None:
    path = BROKEN_FILES[code](tmp_path)
    record = analyze_file(path)
    assert record.error is not None and record.error["code"] == code
    assert record.error["message"]
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record.kind is None and record.loudness_lufs is None
    assert_json_clean(record)


def test_too_long_keeps_the_hints(tmp_path: Path) -> None:
    record = analyze_file(drum_loop_file(tmp_path, "Loop_120bpm.wav"), max_duration=1.0)
    assert record.error is not None and record.error["code"] == "too_long"
    assert record.hints.get("bpm") == 120
    assert record.bpm is None


def _sparse_wav_of_hours(path: Path) -> Path:
    """A 1.9 GB WAV of 6,500 s of silence, sparse: it takes no disk space."""
    fmt = struct.pack("<HHIIHH", 1, 2, 48000, 48000 * 6, 6, 24)
    data_size = 0x7000_0000  # below the size libsndfile takes for a placeholder
    header = (
        b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + data_size) + b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", data_size)
    )  # fmt: skip
    with path.open("wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + data_size)
    return path


def test_a_huge_file_is_too_long_without_being_read_into_memory(tmp_path: Path) -> None:
    path = _sparse_wav_of_hours(tmp_path / "Loop_90bpm.wav")
    tracemalloc.start()
    try:
        record = analyze_file(path)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.error is not None and record.error["code"] == "too_long"
    assert peak_bytes < 32 << 20
    assert record.sha256 is None  # not worth reading gigabytes for
    assert record.hints.get("bpm") == 90


def test_a_large_file_streams_to_the_same_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = drum_loop_file(tmp_path)
    from_bytes = analyze_bytes(path.read_bytes(), name=str(path), embedding=True)
    monkeypatch.setattr(pipeline, "WHOLE_READ_MAX_BYTES", 1024)  # every file is "large"
    streamed = analyze_file(path, embedding=True)
    assert streamed.as_dict() == from_bytes.as_dict()
    broken = BROKEN_FILES["decode_error"](tmp_path)
    record = analyze_file(broken)
    assert record.error is not None and record.error["code"] == "decode_error"
    assert record.sha256 == hashlib.sha256(broken.read_bytes()).hexdigest()


def test_missing_file_is_a_decode_error(tmp_path: Path) -> None:
    record = analyze_file(tmp_path / "gone.wav")
    assert record.error is not None and record.error["code"] == "decode_error"
    assert record.sha256 is None


def test_a_crashing_feature_is_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(pipeline, "estimate_key", broken)
    record = analyze_file(drum_loop_file(tmp_path))
    assert record.error == {"code": "internal_error", "message": "key: ZeroDivisionError: boom"}
    assert record.key is None
    # The other features still ran.
    assert record.bpm is not None and record.loudness_lufs is not None
    assert record.spectral_centroid_hz is not None


def test_keyboard_interrupt_is_not_swallowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "compute_descriptors", interrupted)
    with pytest.raises(KeyboardInterrupt):
        analyze_file(bass_808_file(tmp_path))


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_max_duration_is_validated(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ValueError, match="max_duration"):
        analyze_file(tmp_path / "x.wav", max_duration=bad)


# ------------------------------------------------------------------- batch
def test_iter_audio_paths_walks_sorted_and_skips_noise(tmp_path: Path) -> None:
    for name in ("b/z.wav", "b/a.flac", "a.wav", ".hidden.wav", ".git/x.wav", "readme.txt",
                 "kick.asd", "Cover.PNG", "no_extension"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    explicit = tmp_path / "readme.txt"
    found = list(batch.iter_audio_paths([tmp_path, explicit, tmp_path / "a.wav"]))
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == ["a.wav", "b/a.flac", "b/z.wav", "no_extension", "readme.txt"]


def test_analyze_many_keeps_input_order_in_a_pool(tmp_path: Path) -> None:
    good = bass_808_file(tmp_path)
    bad = _write(tmp_path / "bad.wav", b"nope")
    paths = [good, bad, good, bad, good]
    records = list(batch.analyze_many(paths, workers=2))
    assert [r.path for r in records] == [str(p) for p in paths]
    assert [r.error["code"] if r.error else None for r in records] == [
        None,
        "unsupported_format",
        None,
        "unsupported_format",
        None,
    ]
    assert records[0].as_dict() == analyze_file(good).as_dict()


@pytest.mark.skipif(
    multiprocessing.get_start_method() != "fork", reason="monkeypatch reaches workers via fork"
)
def test_a_dying_worker_costs_only_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batch.analyze_file

    def crashing(path: Any, **kwargs: Any) -> AnalysisRecord:
        if Path(path).name == "poison.wav":
            os._exit(7)  # as a segfault in native code would
        return real(path, **kwargs)

    monkeypatch.setattr(batch, "analyze_file", crashing)
    good = bass_808_file(tmp_path)
    poison = _write(tmp_path / "poison.wav", b"x")
    paths = [good, good, poison, good, good, good]
    records = list(batch.analyze_many(paths, workers=2))
    assert [r.path for r in records] == [str(p) for p in paths]
    errors = [r.error["code"] if r.error else None for r in records]
    assert errors == [None, None, "internal_error", None, None, None]
    assert "died" in records[2].error["message"]  # type: ignore[index]


def _child_processes() -> set[int]:
    tasks = Path("/proc/self/task").iterdir()
    return {int(pid) for task in tasks for pid in (task / "children").read_text().split()}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts children in /proc")
def test_a_pool_starts_no_more_processes_than_files(tmp_path: Path) -> None:
    path = bass_808_file(tmp_path)
    before = _child_processes()
    records = batch.analyze_many([path, path], workers=16)
    next(records)  # the pool is running now
    started = _child_processes() - before
    assert len(list(records)) == 1
    assert 1 <= len(started) <= 2, started


def test_a_pool_is_capped_at_four_processes_per_cpu() -> None:
    assert 4 * (os.cpu_count() or 1) == batch.MAX_WORKERS
    many = [f"{i}.wav" for i in range(batch.MAX_WORKERS + 10)]
    assert batch.pool_size(100_000, many) == batch.MAX_WORKERS
    assert batch.pool_size(100_000, iter(many)) == batch.MAX_WORKERS  # length unknown
    assert batch.pool_size(3, many) == 3
    assert batch.pool_size(8, ["a.wav", "b.wav"]) == 2


@pytest.mark.parametrize("workers", [0, -1, 1.5])
def test_analyze_many_validates_workers(workers: Any) -> None:
    with pytest.raises(ValueError, match="workers"):
        batch.analyze_many([], workers=workers)


def test_analyze_many_in_process(tmp_path: Path) -> None:
    path = bass_808_file(tmp_path)
    (record,) = batch.analyze_many([path], workers=1)
    assert record.error is None and record.kind == "one_shot"


def test_blas_runs_single_threaded_during_a_batch() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads() -> set[int]:
        return {
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        }

    before = blas_threads()
    restore = batch.limit_blas_threads()
    try:
        assert blas_threads() <= {1}
    finally:
        restore()
    assert blas_threads() == before


def test_audio_fingerprint_is_the_sha256_of_24_bit_samples() -> None:
    rng = np.random.default_rng(4)
    samples = (rng.standard_normal((2, 5000)) * 0.7).astype(np.float32)
    samples[0, :4] = [1.5, -1.5, 0.5 / 8388607.0, 1.5 / 8388607.0]  # clipped; halves round to even
    decoded = signal_module.DecodedAudio(samples=samples, sample_rate=44100, format="WAV")
    quantized = np.round(np.clip(samples, -1.0, 1.0) * 8388607.0).astype("<i4")
    digest = hashlib.sha256(b"44100:2:")
    digest.update(quantized.tobytes())
    assert pipeline.audio_fingerprint(decoded) == digest.hexdigest()
    assert np.array_equal(decoded.samples, samples)  # the input is not modified
