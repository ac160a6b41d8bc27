"""The audio storage failing after an upload was received, or under the library's other
endpoints: a 503 ``storage_unavailable``, logged once with its cause, and no lost or
half-written state (the storage back, everything is where it was)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from samplemind.app import create_app
from samplemind.core.config import Settings
from samplemind.samples.storage import StorageUnavailable
from tests.auth.helpers import assert_error
from tests.conftest import running_client
from tests.samples.conftest import (
    DirectoryOutage,
    corpus_file,
    library_settings,
    new_account,
)
from tests.samples.test_upload import _row_counts
from tests.samples.test_upload_failures import HeldSlots, blocked_pid, content_locked, until
from tests.seaweed import SeaweedS3

NOT_AUDIO = b"not audio at all" * 100
UNDRAWN_POINTS = itertools.count(171)  # point counts no test draws: peaks not cached


@dataclass
class FailingBackend:
    settings: Settings
    stored: Callable[[], list[str]]  # the SHA-256 of every stored file, while it is up
    stop: Callable[[], None]  # the storage fails from now on
    start: Callable[[], None]  # and is back, with its content


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> FailingBackend:
    if request.param == "local":
        settings = library_settings(database_url, tmp_path)
        root = settings.data_dir / "audio"
        outage = DirectoryOutage(root)
        return FailingBackend(
            settings,
            lambda: sorted(p.name for p in root.rglob("*") if p.is_file()),
            outage.stop,
            outage.start,
        )
    (tmp_path / "s3").mkdir()
    server = SeaweedS3(tmp_path / "s3")  # of this test alone: it is stopped
    server.start()
    request.addfinalizer(server.stop)
    prefix = server.new_prefix()
    settings = library_settings(database_url, tmp_path, **server.settings_overrides(prefix))
    return FailingBackend(
        settings,
        lambda: [key.rsplit("/", 1)[-1] for key in server.keys(prefix)],
        server.stop,
        server.start,
    )


def storage_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def assert_logged_with_cause(records: list[logging.LogRecord], count: int) -> None:
    assert len(records) == count, [r.getMessage() for r in records]
    for record in records:
        assert record.exc_info is not None and record.exc_info[1] is not None
        assert not isinstance(record.exc_info[1], StorageUnavailable)  # the cause itself


async def test_upload_whose_storage_fails_while_it_is_checked_is_503(
    backend: FailingBackend, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(backend.settings)
    async with running_client(app) as client:
        alice = await new_account(client, "alice@example.com")
        slots = app.state.decode_slots = HeldSlots()
        upload = asyncio.create_task(alice.upload(corpus_file("oh")))
        await until(slots.waited.wait(), upload)  # received, about to be decoded
        backend.stop()
        slots.release()
        response = await upload
        backend.start()
    assert_error(response, 503, "storage_unavailable")
    assert_logged_with_cause(storage_errors(caplog), 1)
    assert await _row_counts(backend.settings) == (0, 0)


async def test_upload_whose_storage_fails_before_its_sample_is_added_is_503(
    backend: FailingBackend,
) -> None:
    name, data = corpus_file("lt")
    async with running_client(create_app(backend.settings)) as client:
        alice = await new_account(client, "alice@example.com")
        async with content_locked(backend.settings, hashlib.sha256(data).hexdigest()) as lock:
            upload = asyncio.create_task(alice.upload((name, data)))
            await blocked_pid(lock, upload)  # decoded, waiting to become a sample
            backend.stop()
        response = await upload
        backend.start()
    assert_error(response, 503, "storage_unavailable")
    assert await _row_counts(backend.settings) == (0, 0)


async def test_refused_file_whose_storage_fails_before_it_is_deleted_is_503(
    backend: FailingBackend,
) -> None:
    async with running_client(create_app(backend.settings)) as client:
        alice = await new_account(client, "alice@example.com")
        sha256 = hashlib.sha256(NOT_AUDIO).hexdigest()
        async with content_locked(backend.settings, sha256) as lock:
            upload = asyncio.create_task(alice.upload(("notes.wav", NOT_AUDIO)))
            await blocked_pid(lock, upload)  # refused, waiting to delete the file
            backend.stop()
        response = await upload
        backend.start()
    assert_error(response, 503, "storage_unavailable")
    assert await _row_counts(backend.settings) == (0, 0)


async def test_file_is_not_streamed_from_failing_storage(
    backend: FailingBackend, caplog: pytest.LogCaptureFixture
) -> None:
    name, data = corpus_file("cb")
    async with running_client(create_app(backend.settings)) as client:
        alice = await new_account(client, "alice@example.com")
        [sample] = await alice.ingest((name, data))
        url = f"/api/v1/audio/{sample['id']}/file"
        backend.stop()
        whole = await alice.get(url)
        ranged = await alice.get(url, headers={"Range": "bytes=10-19"})
        health = await client.get("/health")
        backend.start()
        assert (await alice.get(url)).content == data
        assert (await alice.get(url, headers={"Range": "bytes=10-19"})).content == data[10:20]
    assert_error(whole, 503, "storage_unavailable")
    assert_error(ranged, 503, "storage_unavailable")
    assert_logged_with_cause(storage_errors(caplog), 2)
    assert health.status_code == 503
    assert health.json()["error"]["details"]["checks"]["storage"]["status"] == "error"


async def test_waveform_of_failing_storage_is_503(backend: FailingBackend) -> None:
    async with running_client(create_app(backend.settings)) as client:
        alice = await new_account(client, "alice@example.com")
        [sample] = await alice.ingest(corpus_file("cp"))
        url = f"/api/v1/audio/{sample['id']}/waveform"
        points = {"points": next(UNDRAWN_POINTS)}
        backend.stop()
        response = await alice.get(url, params=points)
        backend.start()
        assert (await alice.get(url, params=points)).status_code == 200
    assert_error(response, 503, "storage_unavailable")


async def test_delete_with_failing_storage_keeps_the_sample_until_its_file_goes(
    backend: FailingBackend,
) -> None:
    name, data = corpus_file("rim")
    async with running_client(create_app(backend.settings)) as client:
        alice = await new_account(client, "alice@example.com")
        bob = await new_account(client, "bob@example.com")
        [alices] = await alice.ingest((name, data))
        [bobs] = await bob.ingest((name, data))
        backend.stop()
        # bob's copy still uses the content: the storage is not needed
        deleted = await client.delete(f"/api/v1/audio/{alices['id']}", headers=alice.headers)
        assert deleted.status_code == 204, deleted.text
        refused = await client.delete(f"/api/v1/audio/{bobs['id']}", headers=bob.headers)
        assert_error(refused, 503, "storage_unavailable")
        assert (await bob.get(f"/api/v1/audio/{bobs['id']}")).status_code == 200
        backend.start()
        assert backend.stored() == [bobs["content_sha256"]]
        assert (await bob.get(f"/api/v1/audio/{bobs['id']}/file")).content == data
        deleted = await client.delete(f"/api/v1/audio/{bobs['id']}", headers=bob.headers)
        assert deleted.status_code == 204, deleted.text
    assert await _row_counts(backend.settings) == (0, 0)
    assert backend.stored() == []


async def test_search_by_clip_with_failing_clip_storage_is_503(
    database_url: str, tmp_path: Path
) -> None:
    settings = library_settings(database_url, tmp_path)
    outage = DirectoryOutage(settings.data_dir / "query-clips")
    name, data = corpus_file("cb")
    async with running_client(create_app(settings)) as client:
        alice = await new_account(client, "alice@example.com")
        await alice.ingest((name, data))
        outage.stop()
        response = await client.post(
            "/api/v1/search/similar", headers=alice.headers, files={"file": ("q.flac", data)}
        )
        outage.start()
    assert_error(response, 503, "storage_unavailable")


async def test_missing_file_is_404_and_a_missing_storage_folder_is_503(
    database_url: str, tmp_path: Path
) -> None:
    settings = library_settings(database_url, tmp_path)
    root = settings.data_dir / "audio"
    async with running_client(create_app(settings)) as client:
        alice = await new_account(client, "alice@example.com")
        [sample] = await alice.ingest(corpus_file("sh"))
        url = f"/api/v1/audio/{sample['id']}"
        [blob] = [path for path in root.rglob(sample["content_sha256"])]
        blob.rename(tmp_path / "lost")  # the file alone is gone: the storage is fine
        missing = [await alice.get(f"{url}/file"), await alice.get(f"{url}/waveform")]
        root.rename(tmp_path / "unmounted")  # the whole folder is gone: an outage
        down = [await alice.get(f"{url}/file"), await alice.get(f"{url}/waveform")]
        health = await client.get("/health")
    for response in missing:
        assert_error(response, 404, "not_found")
    for response in down:
        assert_error(response, 503, "storage_unavailable")
    assert health.json()["error"]["details"]["checks"]["storage"]["status"] == "error"
