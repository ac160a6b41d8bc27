"""Audio content in any S3-compatible object store (``SAMPLEMIND_STORAGE_URL=s3://bucket``).

Objects are keyed ``<prefix>ab/cd/<sha256>`` like the local layout. An upload streams
into an unnamed local temporary file while it is hashed and counted (the key is the
hash, known only at the end), then goes to the bucket once, unless the bucket already
holds that content. Reads for decoding are spooled to memory or a temporary file, since
decoders seek; ranges for players are read from the bucket directly.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any, BinaryIO, cast

from samplemind.core.config import parse_storage_url
from samplemind.samples.storage import READ_CHUNK_BYTES, HashingWriter, StoredBlob, content_key

SPOOL_IN_MEMORY_BYTES = 16 * 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3BlobWriter(HashingWriter):
    def __init__(self, storage: S3Storage, *, max_bytes: int) -> None:
        self._storage = storage
        # unnamed, so a crash leaves nothing; closed by commit() or abort()
        super().__init__(tempfile.TemporaryFile(), max_bytes=max_bytes)  # noqa: SIM115

    def commit(self) -> StoredBlob:
        blob = self.written()
        try:
            if not self._storage.exists(blob.sha256):  # identical content: stored once
                self._file.seek(0)
                self._storage.upload(blob.sha256, self._file)
        finally:
            self._file.close()
        return blob


class S3Storage:
    """The :class:`~samplemind.samples.storage.Storage` interface over an S3 bucket."""

    def __init__(self, client: Any, *, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> S3Storage:
        """A client for ``url``; credentials default to boto3's own chain (AWS_* variables,
        shared config, instance roles)."""
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("S3 storage needs boto3: pip install 'samplemind[s3]'") from exc
        bucket, prefix = parse_storage_url(url)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
        )
        return cls(client, bucket=bucket, prefix=prefix)

    def key(self, sha256: str) -> str:
        return self.prefix + content_key(sha256)

    def writer(self, *, max_bytes: int) -> S3BlobWriter:
        return S3BlobWriter(self, max_bytes=max_bytes)

    def upload(self, sha256: str, source: IO[bytes]) -> None:
        self._client.upload_fileobj(source, self.bucket, self.key(sha256))

    def exists(self, sha256: str) -> bool:
        try:
            self._head(sha256)
        except FileNotFoundError:
            return False
        return True

    def size(self, sha256: str) -> int:
        return int(self._head(sha256)["ContentLength"])

    def read_bytes(self, sha256: str) -> bytes:
        return bytes(self._get(sha256)["Body"].read())

    def open(self, sha256: str) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
        try:
            for chunk in self._get(sha256)["Body"].iter_chunks(READ_CHUNK_BYTES):
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return cast(BinaryIO, spool)

    def iter_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        body = self._get(sha256, Range=f"bytes={start}-{end}")["Body"]
        try:
            yield from body.iter_chunks(READ_CHUNK_BYTES)
        finally:
            body.close()

    def delete(self, sha256: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def ping(self) -> None:
        """Raise unless the bucket answers with these credentials."""
        self._client.head_bucket(Bucket=self.bucket)

    def _head(self, sha256: str) -> dict[str, Any]:
        return self._call("head_object", sha256)

    def _get(self, sha256: str, **extra: str) -> dict[str, Any]:
        return self._call("get_object", sha256, **extra)

    def _call(self, operation: str, sha256: str, **extra: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            response: dict[str, Any] = getattr(self._client, operation)(
                Bucket=self.bucket, Key=self.key(sha256), **extra
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                raise FileNotFoundError(self.key(sha256)) from exc
            raise
        return response
