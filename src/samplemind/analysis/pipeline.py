"""The one-pass analysis of a file: bytes in, one :class:`AnalysisRecord` out.

The bytes are read once (their SHA-256 and the decoder share them), decoded once,
downmixed and resampled once by :func:`~samplemind.analysis.signal.prepare`, and
every feature reads the one spectrogram that :class:`AnalysisSignal` caches.

The engine never raises to its caller for a bad input or a failing feature: the
record's ``error`` says ``{code, message}`` and the fields known so far are kept.
Only ``KeyboardInterrupt`` and ``SystemExit`` (``BaseException``) pass through.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from typing import Any, cast, get_args

import numpy as np

from .classify import decide_category, load_category_model
from .decode import decode_audio, open_regular_file
from .descriptors import compute_descriptors
from .embedding import compute_embedding
from .errors import AnalysisError, AnalysisErrorCode
from .features import classifier_features
from .hints import parse_hints
from .loudness import integrated_loudness, rms_dbfs, true_peak_dbfs
from .pitch import estimate_pitch
from .record import AnalysisRecord, ValueSource
from .rhythm import detect_kind, estimate_tempo
from .signal import AnalysisSignal, DecodedAudio, prepare
from .tags import descriptive_tags
from .tonality import estimate_key

__all__ = ["DEFAULT_MAX_DURATION", "analyze_bytes", "analyze_bytes_with_features", "analyze_file"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_DURATION = 1200.0
"""Longest audio (seconds) analysed by default; longer files get ``too_long``."""
WHOLE_READ_MAX_BYTES = 64 << 20
"""Larger files are decoded from disk, not read into memory first, so an over-long
one is refused from its header (hours of audio are gigabytes)."""

_VALUE_SOURCES: frozenset[str] = frozenset(get_args(ValueSource))

# Decimal places kept per record field: enough for every use, short in JSON.
_DESCRIPTOR_DIGITS: dict[str, int] = {
    "spectral_centroid_hz": 1,
    "spectral_rolloff_hz": 1,
    "spectral_flatness": 4,
    "zero_crossing_rate": 4,
    "attack_ms": 2,
    "decay_ms": 2,
    "stereo_width": 3,
}
_EMBEDDING_DIGITS = 6


def analyze_file(
    path: str | PathLike[str],
    *,
    embedding: bool = False,
    max_duration: float = DEFAULT_MAX_DURATION,
) -> AnalysisRecord:
    """Analyse one audio file.

    Args:
        path: the file. Its name and folders also give filename hints
            (tempo, key, kind) that the tempo and key estimators may use.
        embedding: also compute the timbre embedding (a list of floats).
        max_duration: longest audio accepted, in seconds (positive, finite).

    Returns:
        The record; ``record.error`` is ``{"code", "message"}`` when the file
        could not be read or analysed (an unreadable file is a ``decode_error``;
        a named pipe or a device, never read, is ``unsupported_format``).

    Raises:
        ValueError: ``max_duration`` is not a positive finite number. Nothing
            about the file's content or a feature's failure raises.
    """
    _check_max_duration(max_duration)
    name = str(path)
    try:
        with open_regular_file(path) as handle:
            if os.fstat(handle.fileno()).st_size > WHOLE_READ_MAX_BYTES:
                return _analyze_large_file(
                    handle, name=name, embedding=embedding, max_duration=max_duration
                )
            data = handle.read()
    except AnalysisError as exc:
        return _unread_file_record(name, exc.code, exc.message)
    except OSError as exc:
        return _unread_file_record(name, AnalysisErrorCode.DECODE_ERROR, f"cannot read file: {exc}")
    return analyze_bytes(data, name=name, embedding=embedding, max_duration=max_duration)


def _analyze_large_file(
    handle: io.BufferedReader, *, name: str, embedding: bool, max_duration: float
) -> AnalysisRecord:
    """:func:`analyze_file` of a file too large to read into memory first.

    The decoder reads it from disk and refuses an over-long one from its
    header; the SHA-256 is then streamed, except for ``too_long`` files.
    """
    record = AnalysisRecord(path=name)
    hints = _collect_hints(record, name)
    decoded: DecodedAudio | None = None
    with _feature(record, "decode"):
        decoded = decode_audio(handle, max_duration=max_duration)
    if record.error is None or record.error["code"] != AnalysisErrorCode.TOO_LONG.value:
        handle.seek(0)
        record.sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    if decoded is not None:
        _analyze_decoded(record, decoded, hints, embedding=embedding)
    return record


def _unread_file_record(name: str, code: AnalysisErrorCode, message: str) -> AnalysisRecord:
    record = AnalysisRecord(path=name)
    _collect_hints(record, name)
    _set_error(record, code, message)
    return record


def analyze_bytes(
    data: bytes,
    *,
    name: str,
    embedding: bool = False,
    max_duration: float = DEFAULT_MAX_DURATION,
) -> AnalysisRecord:
    """Analyse the bytes of an audio file (an upload, say).

    Args:
        data: the whole file's bytes; the format is sniffed from the content.
        name: the file's name or path, stored as ``record.path`` and parsed
            for filename hints.
        embedding: also compute the timbre embedding (a list of floats).
        max_duration: longest audio accepted, in seconds (positive, finite).

    Returns:
        The record, with ``error`` set when something failed (see module doc).

    Raises:
        TypeError: ``data`` is not bytes-like.
        ValueError: ``max_duration`` is not a positive finite number.
    """
    record, _ = analyze_bytes_with_features(
        data, name=name, embedding=embedding, max_duration=max_duration
    )
    return record


def analyze_bytes_with_features(
    data: bytes,
    *,
    name: str,
    embedding: bool = False,
    max_duration: float = DEFAULT_MAX_DURATION,
) -> tuple[AnalysisRecord, np.ndarray | None]:
    """:func:`analyze_bytes`, and the category classifier's input vector.

    The features (:func:`~samplemind.analysis.features.classifier_features`) are
    ``None`` when the file could not be decoded or a step before them failed;
    ``samplemind train-classifier`` trains on exactly what inference sees.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    _check_max_duration(max_duration)
    name = str(name)
    record = AnalysisRecord(path=name, sha256=hashlib.sha256(data).hexdigest())
    hints = _collect_hints(record, name)

    decoded: DecodedAudio | None = None
    with _feature(record, "decode"):
        decoded = decode_audio(data, max_duration=max_duration)
    if decoded is None:
        return record, None
    return record, _analyze_decoded(record, decoded, hints, embedding=embedding)


def _analyze_decoded(
    record: AnalysisRecord, decoded: DecodedAudio, hints: Any, *, embedding: bool
) -> np.ndarray | None:
    """Every field after decoding; returns the classifier's input vector (or ``None``)."""
    _fill_format(record, decoded)
    _fill_loudness(record, decoded)

    signal: AnalysisSignal | None = None
    with _feature(record, "prepare"):
        signal = prepare(decoded)
    if signal is None:
        return None
    features = _fill_features(record, signal, hints)
    if embedding:
        with _feature(record, "embedding"):
            vector = np.asarray(compute_embedding(signal), dtype=np.float64)
            record.embedding = [round(float(v), _EMBEDDING_DIGITS) for v in vector]
    return features


def _check_max_duration(max_duration: float) -> None:
    if not 0 < max_duration < math.inf:
        raise ValueError(
            f"max_duration must be a positive finite number of seconds, got {max_duration}"
        )


@contextmanager
def _feature(record: AnalysisRecord, feature: str) -> Iterator[None]:
    """Run one step; a failure becomes ``record.error`` (the first one wins).

    The remaining steps still run, so a crash in one estimator does not cost
    the others' fields.
    """
    try:
        yield
    except AnalysisError as exc:
        _set_error(record, exc.code, exc.message)
    except Exception as exc:
        logger.debug("%s failed on %s", feature, record.path, exc_info=True)
        _set_error(
            record, AnalysisErrorCode.INTERNAL_ERROR, f"{feature}: {type(exc).__name__}: {exc}"
        )


def _set_error(record: AnalysisRecord, code: AnalysisErrorCode, message: str) -> None:
    if record.error is None:
        record.error = {"code": AnalysisErrorCode(code).value, "message": message}


def _collect_hints(record: AnalysisRecord, name: str) -> Any:
    """Parse the filename and folders; returns the hints object or ``None``."""
    hints = None
    with _feature(record, "hints"):
        hints = parse_hints(name)
        record.hints = dict(hints.as_dict())
    return hints


def audio_fingerprint(decoded: DecodedAudio) -> str:
    """SHA-256 of the decoded audio at 24-bit precision, rate and channel count.

    Equal for lossless copies in different containers (a WAV and its FLAC).
    """
    if decoded.peak <= 1.0:  # nothing to clip: one pass less
        scaled = np.multiply(decoded.samples, 8388607.0)
    else:
        scaled = np.clip(decoded.samples, -1.0, 1.0)
        np.multiply(scaled, 8388607.0, out=scaled)
    np.rint(scaled, out=scaled)
    quantized = np.ascontiguousarray(scaled.astype("<i4"))
    digest = hashlib.sha256(f"{decoded.sample_rate}:{decoded.channels}:".encode())
    digest.update(quantized.data)
    return digest.hexdigest()


def _fill_format(record: AnalysisRecord, decoded: DecodedAudio) -> None:
    record.audio_sha256 = audio_fingerprint(decoded)
    record.format = decoded.format
    record.sample_rate = int(decoded.sample_rate)
    record.channels = decoded.channels
    record.bit_depth = decoded.bit_depth
    record.duration = _rounded(decoded.duration, 3)


def _fill_loudness(record: AnalysisRecord, decoded: DecodedAudio) -> None:
    """Peaks and loudness on the native-rate samples (not the resampled mono)."""
    samples, rate = decoded.samples, decoded.sample_rate
    with _feature(record, "peak"):
        record.peak_dbfs = _rounded(_peak_dbfs(decoded.peak), 2)
    with _feature(record, "true_peak"):
        record.true_peak_dbfs = _rounded(
            true_peak_dbfs(samples, sample_rate=rate, sample_peak=decoded.peak), 2
        )
    with _feature(record, "loudness"):
        record.loudness_lufs = _rounded(integrated_loudness(samples, sample_rate=rate), 2)
    with _feature(record, "rms"):
        record.rms_dbfs = _rounded(rms_dbfs(samples), 2)


def _fill_features(record: AnalysisRecord, signal: AnalysisSignal, hints: Any) -> np.ndarray | None:
    """Fill the record's features; returns the classifier's input vector (or ``None``)."""
    hint_bpm = getattr(hints, "bpm", None)
    hint_key = getattr(hints, "key", None)
    with _feature(record, "kind"):
        record.kind = detect_kind(signal)
    # Audio decides the kind; a "loop" in the name stays in record.hints only.
    if record.kind == "loop":
        with _feature(record, "tempo"):
            tempo = estimate_tempo(signal, hint_bpm=hint_bpm)
            if tempo is not None:
                record.bpm = _rounded(tempo.bpm, 2)
                record.bpm_confidence = _rounded(tempo.confidence, 3)
                record.bpm_source = _value_source(tempo.source)
    with _feature(record, "key"):
        key = estimate_key(signal, hint_key=hint_key)
        if key is not None:
            record.key = key.key
            record.key_confidence = _rounded(key.confidence, 3)
            record.key_source = _value_source(key.source)
    if record.kind == "one_shot":
        with _feature(record, "pitch"):
            pitch = estimate_pitch(signal)
            if pitch is not None:
                record.pitch_hz = _rounded(pitch.hz, 2)
                record.root_note = pitch.note
                record.pitch_confidence = _rounded(pitch.confidence, 3)
    descriptors = None
    with _feature(record, "descriptors"):
        descriptors = compute_descriptors(signal)
        _fill_descriptors(record, descriptors)
    features = None
    with _feature(record, "category"):
        if descriptors is not None:
            features = classifier_features(
                signal,
                descriptors,
                pitch_confidence=record.pitch_confidence,
                pitch_hz=record.pitch_hz,
            )
        _fill_category(record, features, getattr(hints, "category", None))
    with _feature(record, "tags"):
        record.tags = descriptive_tags(record)
    return features


def _fill_category(
    record: AnalysisRecord, features: np.ndarray | None, hint_category: str | None
) -> None:
    model = load_category_model() if record.kind == "one_shot" else None
    probabilities = None if model is None or features is None else model.probabilities(features)
    decision = decide_category(
        kind=record.kind,
        key=record.key,
        probabilities=probabilities,
        classes=model.classes if model is not None else (),
        threshold=model.threshold if model is not None else 1.0,
        hint_category=hint_category,
    )
    record.category = decision.category
    record.category_confidence = decision.confidence
    record.category_top3 = decision.top3
    record.category_source = _value_source(decision.source)


def _fill_descriptors(record: AnalysisRecord, descriptors: Any) -> None:
    for name, digits in _DESCRIPTOR_DIGITS.items():
        setattr(record, name, _rounded(getattr(descriptors, name, None), digits))
    onset_count = getattr(descriptors, "onset_count", None)
    if onset_count is not None:
        record.onset_count = int(onset_count)
    # The loudness module's native-rate RMS wins; the descriptor is a fallback.
    if record.rms_dbfs is None:
        record.rms_dbfs = _rounded(getattr(descriptors, "rms_dbfs", None), 2)


def _peak_dbfs(peak: float) -> float | None:
    """:func:`~samplemind.analysis.loudness.sample_peak_dbfs` of a known peak."""
    return 20.0 * math.log10(peak) if peak > 0.0 else None


def _value_source(source: object) -> ValueSource | None:
    if isinstance(source, str) and source in _VALUE_SOURCES:
        return cast(ValueSource, source)
    return None


def _rounded(value: object, digits: int) -> float | None:
    """``value`` as a float rounded to ``digits`` places; ``None`` if absent or not finite."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return round(number, digits) if math.isfinite(number) else None
