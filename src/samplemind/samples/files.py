"""Serving stored audio: HTTP Range streaming and waveform peaks."""

from __future__ import annotations

import re

import numpy as np
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from samplemind.analysis.decode import decode_audio
from samplemind.analysis.errors import AnalysisError
from samplemind.core.errors import AppError, ValidationFailed
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
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(AppError):
    status_code = 416
    code = "range_not_satisfiable"


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
    if byte_range is None:
        headers["Content-Length"] = str(size)
        body = storage.iter_range(sample.content_sha256, 0, size - 1)
        return StreamingResponse(body, media_type=media_type, headers=headers)
    start, end = byte_range
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    body = storage.iter_range(sample.content_sha256, start, end)
    return StreamingResponse(body, status_code=206, media_type=media_type, headers=headers)


def _inline_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'")
    return f'inline; filename="{ascii_name}"'


def waveform(sample: Sample, storage: Storage, *, points: int) -> Waveform:
    """[min, max] of the downmix over ``points`` equal spans of the file."""
    try:
        with storage.open(sample.content_sha256) as handle:
            decoded = decode_audio(handle, max_duration=WAVEFORM_MAX_SECONDS)
    except AnalysisError as exc:
        raise ValidationFailed(exc.message, code=exc.code.value) from exc
    mono = decoded.samples.mean(axis=0)
    edges = np.linspace(0, mono.size, points + 1).astype(np.int64)
    starts = np.minimum(edges[:-1], max(mono.size - 1, 0))
    peaks = np.zeros((points, 2), dtype=np.float32)
    if mono.size:
        peaks[:, 0] = np.minimum.reduceat(mono, starts)
        peaks[:, 1] = np.maximum.reduceat(mono, starts)
    return Waveform(
        sample_id=sample.id,
        points=points,
        duration=decoded.duration,
        sample_rate=decoded.sample_rate,
        channels=decoded.channels,
        peaks=np.round(peaks, 4).tolist(),
    )
