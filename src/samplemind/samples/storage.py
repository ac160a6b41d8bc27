"""Audio content storage, addressed by SHA-256 so identical content is stored once.

``LocalStorage`` keeps blobs under ``<data_dir>/audio/ab/cd/<sha256>``; ``S3Storage``
(``samplemind.samples.s3``) keeps them in a bucket with the same keys. Writers stream
into a temporary file while hashing and counting, so nothing is held whole in memory and
an over-size upload is stopped at the limit.

The app and the workers use a backend through :class:`GuardedStorage`: whatever fails in
it is :class:`StorageUnavailable` (503), except a missing blob (``FileNotFoundError``)
and an over-size upload (:class:`BlobTooLarge`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from samplemind.core.config import Settings
from samplemind.core.errors import ServiceUnavailable

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
READ_CHUNK_BYTES = 256 * 1024


def content_key(sha256: str) -> str:
    """Where content lives in any storage: ``ab/cd/<sha256>``."""
    if not SHA256_PATTERN.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"
    logged = True

    def __init__(self, message: str = "The audio storage is unavailable; try again later") -> None:
        super().__init__(message)  # rebuilt from its message when unpickled


class BlobTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int


class BlobWriter(Protocol):
    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> StoredBlob: ...

    def abort(self) -> None: ...


class Storage(Protocol):
    def writer(self, *, max_bytes: int) -> BlobWriter: ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int: ...

    def read_bytes(self, sha256: str) -> bytes: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def iter_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        """Yield bytes ``start..end`` inclusive."""
        ...

    def delete(self, sha256: str) -> None: ...

    def ping(self) -> None:
        """Raise unless the storage can be used now."""
        ...


def create_storage(settings: Settings) -> Storage:
    """The audio storage the settings name: S3 with ``storage_url``, else the data dir."""
    if settings.storage_url:
        from samplemind.samples.s3 import S3Storage

        secret = settings.s3_secret_access_key
        return GuardedStorage(
            S3Storage.connect(
                settings.storage_url,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=secret.get_secret_value() if secret else None,
            )
        )
    storage = LocalStorage(settings.data_dir / "audio")
    storage.clear_stale_temp()
    return GuardedStorage(storage)


def local_storage(root: Path) -> Storage:
    """A guarded folder storage at ``root``."""
    return GuardedStorage(LocalStorage(root))


class GuardedStorage:
    """``backend`` with its failures as :class:`StorageUnavailable`.

    A missing blob stays ``FileNotFoundError`` (``exists`` false) unless the storage as a
    whole fails its health check (``ping``): a removed folder or bucket is an outage.
    """

    def __init__(self, backend: Storage) -> None:
        self.backend = backend

    def writer(self, *, max_bytes: int) -> BlobWriter:
        with self.failures_are_outages():
            return GuardedWriter(self, self.backend.writer(max_bytes=max_bytes))

    def exists(self, sha256: str) -> bool:
        with self.failures_are_outages():
            found = self.backend.exists(sha256)
        if not found:
            self._raise_if_down()
        return found

    def size(self, sha256: str) -> int:
        with self.failures_are_outages():
            return self.backend.size(sha256)

    def read_bytes(self, sha256: str) -> bytes:
        with self.failures_are_outages():
            return self.backend.read_bytes(sha256)

    def open(self, sha256: str) -> BinaryIO:
        with self.failures_are_outages():
            return self.backend.open(sha256)

    def iter_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        with self.failures_are_outages():
            yield from self.backend.iter_range(sha256, start, end)

    def delete(self, sha256: str) -> None:
        with self.failures_are_outages():
            self.backend.delete(sha256)

    def ping(self) -> None:
        self.backend.ping()  # the health check reports the backend's own error

    @contextmanager
    def failures_are_outages(self) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            self._raise_if_down()
            raise
        except BlobTooLarge:
            raise
        except Exception as exc:
            raise StorageUnavailable from exc

    def _raise_if_down(self) -> None:
        try:
            self.backend.ping()
        except Exception as exc:
            raise StorageUnavailable from exc


class GuardedWriter:
    def __init__(self, storage: GuardedStorage, writer: BlobWriter) -> None:
        self._storage = storage
        self._writer = writer

    def write(self, chunk: bytes) -> None:
        with self._storage.failures_are_outages():
            self._writer.write(chunk)

    def commit(self) -> StoredBlob:
        with self._storage.failures_are_outages():
            return self._writer.commit()

    def abort(self) -> None:
        with self._storage.failures_are_outages():
            self._writer.abort()


class HashingWriter:
    """Counts, limits and hashes what goes into ``file``; subclasses decide where the
    finished content is kept (``commit``) and how a partial one is dropped (``abort``)."""

    def __init__(self, file: IO[bytes], *, max_bytes: int) -> None:
        self._file = file
        self._max_bytes = max_bytes
        self._hasher = hashlib.sha256()
        self._size = 0

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._max_bytes:
            self.abort()
            raise BlobTooLarge(self._max_bytes)
        self._hasher.update(chunk)
        self._file.write(chunk)

    def written(self) -> StoredBlob:
        return StoredBlob(sha256=self._hasher.hexdigest(), size=self._size)

    def abort(self) -> None:
        self._file.close()


class LocalBlobWriter(HashingWriter):
    def __init__(self, storage: LocalStorage, *, max_bytes: int) -> None:
        self._storage = storage
        self._temp_path = storage.temp_dir / f"{uuid.uuid4().hex}.part"
        super().__init__(self._temp_path.open("xb"), max_bytes=max_bytes)

    def commit(self) -> StoredBlob:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        blob = self.written()
        final = self._storage.path(blob.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._temp_path, final)  # identical content: replacing is harmless
        return blob

    def abort(self) -> None:
        super().abort()
        self._temp_path.unlink(missing_ok=True)


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.temp_dir = root / "tmp"
        with contextlib.suppress(OSError):  # failing now: ping says so, calls are 503
            self.temp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / content_key(sha256)

    def writer(self, *, max_bytes: int) -> LocalBlobWriter:
        return LocalBlobWriter(self, max_bytes=max_bytes)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def read_bytes(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def iter_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        remaining = end - start + 1
        with self.path(sha256).open("rb") as handle:
            handle.seek(start)
            while remaining > 0:
                chunk = handle.read(min(READ_CHUNK_BYTES, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def ping(self) -> None:
        if not os.access(self.temp_dir, os.W_OK):
            raise PermissionError(f"cannot write to {self.temp_dir}")

    def clear_stale_temp(self, *, older_than_seconds: float = 3600) -> None:
        """Remove partial uploads left by a crash (not those still being written)."""
        cutoff = time.time() - older_than_seconds
        for partial in self.temp_dir.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()


def remove_stale_dirs(root: Path, *, older_than_seconds: float = 3600) -> None:
    """Remove the subdirectories of ``root`` a crash left (not those still in use)."""
    cutoff = time.time() - older_than_seconds
    for directory in root.glob("*/"):
        with contextlib.suppress(FileNotFoundError):
            if directory.stat().st_mtime < cutoff:
                shutil.rmtree(directory, ignore_errors=True)
