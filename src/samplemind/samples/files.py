"""Serving stored audio: HTTP Range streaming and waveform peaks."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from samplemind.analysis.decode import decode_audio
from samplemind.analysis.errors import AnalysisError
from samplemind.core.errors import AppError, NotFound, ValidationFailed
from samplemind.samples.models import Sample
from samplemind.samples.schemas import Waveform
from samplemind.samples.storage import Storage

MEDIA_TYPES = {
    "WAV": "audio/wav",
    "FLAC": "audio/flac",
    "AIFF": "audio/aiff",
    "OGG": "audio/ogg",
    "OPUS": "audio/ogg",
    "MP3": "audio/mpeg",
}
WAVEFORM_MAX_SECONDS = 24 * 3600.0
WAVEFORM_CACHE_ENTRIES = 256  # at most 80 kB each (10,000 points)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(AppError):
    status_code = 416
    code = "range_not_satisfiable"


class AudioFileMissing(NotFound):
    def __init__(self) -> None:
        super().__init__("The sample's audio file is missing from the storage")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range asked for, None for the whole file.

    Multiple ranges are answered with the whole file, which RFC 9110 allows.
    """
    if not header or "," in header:
        return None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable(
            f"Range outside 0-{size - 1}", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, end


async def stream(request: Request, sample: Sample, storage: Storage) -> Response:
    size = sample.size_bytes
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{sample.content_sha256}"',
        "Content-Disposition": _inline_disposition(sample.original_filename),
    }
    media_type = MEDIA_TYPES.get((sample.format or "").upper(), "application/octet-stream")
    byte_range = parse_range(request.headers.get("range"), size)
    start, end = byte_range or (0, size - 1)
    if byte_range is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    body = await _started(storage.iter_range(sample.content_sha256, start, end))
    status_code = 200 if byte_range is None else 206
    return StreamingResponse(body, status_code=status_code, headers=headers, media_type=media_type)


async def _started(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` with the first one read now, so that a file missing or unreadable is an
    error response, not a 200 cut off after its headers."""
    try:
        first = await asyncio.to_thread(next, chunks, b"")
    except FileNotFoundError as exc:
        raise AudioFileMissing from exc
    return itertools.chain([first], chunks)


def _inline_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'")
    return f'inline; filename="{ascii_name}"'


@dataclass(frozen=True)
class _Peaks:
    peaks: np.ndarray  # (points, 2) float32: [min, max] of the downmix per span
    duration: float
    sample_rate: int
    channels: int


class _LeastRecentlyUsed:
    """A small thread-safe cache of peaks by (content, points): they never change."""

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._items: OrderedDict[tuple[str, int], _Peaks] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> _Peaks | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: tuple[str, int], value: _Peaks) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)


_peaks_cache = _LeastRecentlyUsed(WAVEFORM_CACHE_ENTRIES)


def waveform_etag(sample: Sample, *, points: int) -> str:
    """Peaks depend only on the stored content and the point count."""
    return f'"{sample.content_sha256}-{points}"'


def waveform(sample: Sample, storage: Storage, *, points: int) -> Waveform:
    """[min, max] of the downmix over ``points`` equal spans of the file."""
    key = (sample.content_sha256, points)
    computed = _peaks_cache.get(key)
    if computed is None:
        computed = _peaks(storage, sample.content_sha256, points)
        _peaks_cache.put(key, computed)
    return Waveform(
        sample_id=sample.id,
        points=points,
        duration=computed.duration,
        sample_rate=computed.sample_rate,
        channels=computed.channels,
        peaks=computed.peaks.tolist(),
    )


def _peaks(storage: Storage, sha256: str, points: int) -> _Peaks:
    try:
        with storage.open(sha256) as handle:
            decoded = decode_audio(handle, max_duration=WAVEFORM_MAX_SECONDS)
    except AnalysisError as exc:
        raise ValidationFailed(exc.message, code=exc.code.value) from exc
    except FileNotFoundError as exc:
        raise AudioFileMissing from exc
    mono = decoded.samples.mean(axis=0)
    edges = np.linspace(0, mono.size, points + 1).astype(np.int64)
    starts = np.minimum(edges[:-1], max(mono.size - 1, 0))
    peaks = np.zeros((points, 2), dtype=np.float32)
    if mono.size:
        peaks[:, 0] = np.minimum.reduceat(mono, starts)
        peaks[:, 1] = np.maximum.reduceat(mono, starts)
    peaks = np.round(peaks, 4)
    peaks.flags.writeable = False
    return _Peaks(peaks, decoded.duration, decoded.sample_rate, decoded.channels)
