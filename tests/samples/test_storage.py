"""The storage contract, for the local folder and for a real S3-compatible server."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from samplemind.core.config import parse_storage_url
from samplemind.samples.s3 import S3Storage
from samplemind.samples.storage import BlobTooLarge, LocalStorage, Storage, remove_stale_dirs
from tests.seaweed import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedS3

DATA = bytes(range(256)) * 1000  # 256,000 bytes


def _local_keys(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file() and p.parent.name != "tmp")


@pytest.fixture(params=["local", "s3"])
def storage_and_keys(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Storage, Callable[[], list[str]]]]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "audio"), lambda: _local_keys(tmp_path / "audio")
        return
    server: SeaweedS3 = request.getfixturevalue("s3_server")
    prefix = server.new_prefix()
    storage = S3Storage.connect(
        f"s3://{BUCKET}/{prefix}",
        endpoint_url=server.endpoint_url,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    yield storage, lambda: [key.rsplit("/", 1)[-1] for key in server.keys(prefix)]


def _store(storage: Storage, data: bytes, *, max_bytes: int = 10**7) -> str:
    writer = storage.writer(max_bytes=max_bytes)
    for start in range(0, len(data), 7000):
        writer.write(data[start : start + 7000])
    return writer.commit().sha256


def test_round_trip(storage_and_keys: tuple[Storage, Callable[[], list[str]]]) -> None:
    storage, keys = storage_and_keys
    sha256 = _store(storage, DATA)
    assert sha256 == hashlib.sha256(DATA).hexdigest()
    assert keys() == [sha256]
    assert storage.exists(sha256) and storage.size(sha256) == len(DATA)
    assert storage.read_bytes(sha256) == DATA
    with storage.open(sha256) as handle:  # decoders seek
        handle.seek(1000)
        assert handle.read(10) == DATA[1000:1010]
    assert b"".join(storage.iter_range(sha256, 5, 300_000 - 1)) == DATA[5:]
    assert b"".join(storage.iter_range(sha256, 255_990, 255_999)) == DATA[-10:]
    storage.ping()


def test_identical_content_is_stored_once_and_deleted(
    storage_and_keys: tuple[Storage, Callable[[], list[str]]],
) -> None:
    storage, keys = storage_and_keys
    assert _store(storage, DATA) == _store(storage, DATA)
    assert len(keys()) == 1
    [sha256] = keys()
    storage.delete(sha256)
    assert keys() == [] and not storage.exists(sha256)
    with pytest.raises(FileNotFoundError):
        storage.size(sha256)
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(sha256)


def test_an_oversize_write_stops_at_the_limit_and_keeps_nothing(
    storage_and_keys: tuple[Storage, Callable[[], list[str]]],
) -> None:
    storage, keys = storage_and_keys
    with pytest.raises(BlobTooLarge):
        _store(storage, DATA, max_bytes=100_000)
    writer = storage.writer(max_bytes=10**6)
    writer.write(b"partial")
    writer.abort()
    assert keys() == []


def test_keys_must_be_sha256(storage_and_keys: tuple[Storage, Callable[[], list[str]]]) -> None:
    storage, _ = storage_and_keys
    for bad in ("../../etc/passwd", "ab" * 31, "Z" * 64):
        with pytest.raises(ValueError, match="SHA-256"):
            storage.exists(bad)


def test_storage_urls() -> None:
    assert parse_storage_url("s3://bucket") == ("bucket", "")
    assert parse_storage_url("s3://bucket/a/b/") == ("bucket", "a/b/")
    for bad in ("bucket", "http://bucket/x", "s3://"):
        with pytest.raises(ValueError, match="s3://"):
            parse_storage_url(bad)


def test_a_missing_bucket_fails_ping(s3_server: SeaweedS3) -> None:
    storage = S3Storage.connect(
        "s3://no-such-bucket-here",
        endpoint_url=s3_server.endpoint_url,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    with pytest.raises(Exception, match=r"404|NoSuchBucket|Not Found"):
        storage.ping()


def test_only_stale_directories_are_removed(tmp_path: Path) -> None:
    stale, fresh = tmp_path / "stale", tmp_path / "fresh"
    for directory in (stale, fresh):
        (directory / "tmp").mkdir(parents=True)
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))
    remove_stale_dirs(tmp_path)
    assert list(tmp_path.iterdir()) == [fresh]
