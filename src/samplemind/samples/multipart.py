"""Streaming ``multipart/form-data`` reader for uploads.

Starlette's form parser spools whole files before the endpoint runs, so a limit could
only be checked afterwards. This reader hashes and stores each file part as it arrives
and stops at the per-file and per-request limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from samplemind.core.errors import AppError
from samplemind.samples.storage import (
    BlobTooLarge,
    BlobWriter,
    Storage,
    StorageUnavailable,
    StoredBlob,
)

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELDS = frozenset({"file", "files"})
MAX_TEXT_FIELD_BYTES = 4096


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


@dataclass
class ReceivedFile:
    filename: str
    content_type: str | None
    blob: StoredBlob


@dataclass
class ReceivedForm:
    files: list[ReceivedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    writer: BlobWriter | None = None
    text: bytearray = field(default_factory=bytearray)


class _FormCollector:
    """Parser callbacks: route each part to a blob writer or a small text buffer."""

    def __init__(self, storage: Storage, *, max_file_bytes: int, max_files: int) -> None:
        self.storage = storage
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.form = ReceivedForm()
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, bytes] = {}

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.decode("latin-1").lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get("content-disposition", b""))
        self.part.name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        content_type = self.headers.get("content-type")
        self.part.content_type = content_type.decode("latin-1") if content_type else None
        if raw_filename is not None and self.part.name in FILE_FIELDS:
            if len(self.form.files) >= self.max_files:
                raise PayloadTooLarge(f"At most {self.max_files} files per request")
            self.part.filename = raw_filename.decode("utf-8", "replace")
            self.part.writer = self.storage.writer(max_bytes=self.max_file_bytes)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.writer is not None:
            self.part.writer.write(data[start:end])
            return
        self.part.text += data[start:end]
        if len(self.part.text) > MAX_TEXT_FIELD_BYTES:
            raise PayloadTooLarge(f"Form field {self.part.name!r} is too large")

    def on_part_end(self) -> None:
        part = self.part
        if part.writer is not None and part.filename is not None:
            blob = part.writer.commit()
            part.writer = None
            self.form.files.append(ReceivedFile(part.filename, part.content_type, blob))
        elif part.name:
            self.form.fields[part.name] = part.text.decode("utf-8", "replace")

    def abort(self) -> None:
        """Drop the partial file; one a failing storage keeps is cleared at start-up."""
        if self.part.writer is not None:
            with contextlib.suppress(StorageUnavailable):
                self.part.writer.abort()


async def receive_form(
    request: Request,
    storage: Storage,
    *,
    max_file_bytes: int,
    max_request_bytes: int,
    max_files: int,
) -> ReceivedForm:
    """Read a multipart upload, storing its file parts as they stream in.

    ``storage`` is guarded (:class:`~samplemind.samples.storage.GuardedStorage`), so that
    its failures are 503 ``storage_unavailable``, not a malformed body.

    Raises :class:`UnsupportedMediaType` before reading anything, or :class:`UploadFailed`
    carrying the error (413, 400, or 503 when the storage fails) and the blobs already
    stored, for the caller to clean.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType("Upload with Content-Type multipart/form-data")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_request_bytes:
        raise PayloadTooLarge(f"Request is larger than {max_request_bytes} bytes")

    collector = _FormCollector(storage, max_file_bytes=max_file_bytes, max_files=max_files)
    parser = MultipartParser(boundary, callbacks=_callbacks(collector))
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_request_bytes:
                raise PayloadTooLarge(f"Request is larger than {max_request_bytes} bytes")
            await asyncio.to_thread(parser.write, chunk)  # writers may fsync or upload
        await asyncio.to_thread(parser.finalize)
        if collector.part.writer is not None:
            raise ValueError("the body ended inside a file part")
    except BlobTooLarge as exc:
        collector.abort()
        too_large = PayloadTooLarge(f"A file is larger than {exc.limit} bytes")
        raise UploadFailed(collector.form, too_large) from exc
    except AppError as exc:
        collector.abort()
        raise UploadFailed(collector.form, exc) from exc
    except Exception as exc:  # malformed multipart body
        collector.abort()
        malformed = AppError("The multipart body is malformed", code="malformed_multipart")
        raise UploadFailed(collector.form, malformed) from exc
    return collector.form


class UploadFailed(Exception):
    """Reading the upload failed; ``form`` holds the blobs stored before the failure."""

    def __init__(self, form: ReceivedForm, error: AppError) -> None:
        super().__init__(error.message)
        self.form = form
        self.error = error


def _callbacks(collector: _FormCollector) -> MultipartCallbacks:
    return {
        "on_part_begin": collector.on_part_begin,
        "on_header_field": collector.on_header_field,
        "on_header_value": collector.on_header_value,
        "on_header_end": collector.on_header_end,
        "on_headers_finished": collector.on_headers_finished,
        "on_part_data": collector.on_part_data,
        "on_part_end": collector.on_part_end,
    }
