"""Uploads that meet a concurrent deletion or a failing storage: a clean error, nothing
left behind (no row, no stored file)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from samplemind.app import create_app
from samplemind.core.config import Settings
from tests.auth.helpers import assert_error
from tests.conftest import free_port, running_client
from tests.samples.conftest import corpus_file, library_settings, new_account
from tests.samples.test_upload import _row_counts
from tests.seaweed import SeaweedS3


@dataclass
class Backend:
    settings: Settings
    stored: Callable[[], list[str]]  # the SHA-256 of every stored file


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Backend:
    if request.param == "local":
        settings = library_settings(database_url, tmp_path)
        root = settings.data_dir / "audio"
        return Backend(settings, lambda: sorted(p.name for p in root.rglob("*") if p.is_file()))
    server: SeaweedS3 = request.getfixturevalue("s3_server")
    prefix = server.new_prefix()
    settings = library_settings(database_url, tmp_path, **server.settings_overrides(prefix))
    return Backend(settings, lambda: [key.rsplit("/", 1)[-1] for key in server.keys(prefix)])


class HeldSlots(asyncio.Semaphore):
    """Decode slots that start taken and tell when an upload, fully received, waits."""

    def __init__(self) -> None:
        super().__init__(0)
        self.waited = asyncio.Event()

    async def acquire(self) -> Literal[True]:
        self.waited.set()
        return await super().acquire()


async def until(signal: Awaitable[object], request: asyncio.Task[httpx.Response]) -> None:
    """Wait for ``signal``; fail if the request finishes first."""
    waiting = asyncio.ensure_future(signal)
    await asyncio.wait({waiting, request}, return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done():
        waiting.cancel()
        raise AssertionError(f"the request ended first: {request.result().text}")


async def test_upload_racing_the_deletion_of_its_content_is_409(backend: Backend) -> None:
    name, data = corpus_file("oh")
    app = create_app(backend.settings)
    async with running_client(app) as client:
        alice = await new_account(client, "alice@example.com")
        bob = await new_account(client, "bob@example.com")
        [bobs] = await bob.ingest((name, data))
        slots = app.state.decode_slots = HeldSlots()
        upload = asyncio.create_task(alice.upload((name, data)))
        await until(slots.waited.wait(), upload)  # alice's copy is stored, not yet a sample
        deleted = await client.delete(f"/api/v1/audio/{bobs['id']}", headers=bob.headers)
        assert deleted.status_code == 204  # the last sample of that content: file deleted
        slots.release()
        response = await upload
    assert_error(response, 409, "upload_conflict")
    assert await _row_counts(backend.settings) == (0, 0)
    assert backend.stored() == []


@asynccontextmanager
async def content_locked(settings: Settings, sha256: str) -> AsyncIterator[AsyncConnection]:
    """Hold the lock a deletion of ``sha256`` holds (``release_content``)."""
    assert settings.database_url
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            lock = text("SELECT pg_advisory_lock(hashtextextended(:sha, 0))")
            await connection.execute(lock, {"sha": sha256})
            yield connection
    finally:
        await engine.dispose()


async def blocked_pid(connection: AsyncConnection, request: asyncio.Task[httpx.Response]) -> int:
    """The database session of ``request`` once it waits for the content lock."""
    waiting = text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    while (pid := await connection.scalar(waiting)) is None:
        if request.done():
            raise AssertionError(f"the request ended first: {request.result().text}")
        await asyncio.sleep(0.05)
    return int(pid)


async def test_a_later_file_deleted_before_it_is_added_is_refused_alone(
    backend: Backend,
) -> None:
    first, second = corpus_file("lt"), corpus_file("mt")
    second_sha = hashlib.sha256(second[1]).hexdigest()
    app = create_app(backend.settings)
    async with running_client(app) as client:
        alice = await new_account(client, "alice@example.com")
        async with content_locked(backend.settings, second_sha) as connection:
            upload = asyncio.create_task(alice.upload(first, second))
            await blocked_pid(connection, upload)  # both files stored, no sample committed
            await asyncio.to_thread(app.state.storage.delete, second_sha)
        response = await upload
    assert response.status_code == 201, response.text
    body = response.json()
    assert [item["sample"]["original_filename"] for item in body["items"]] == [first[0]]
    assert [error["error"]["code"] for error in body["errors"]] == ["upload_conflict"]
    assert await _row_counts(backend.settings) == (1, 1)
    assert backend.stored() == [hashlib.sha256(first[1]).hexdigest()]


async def test_a_batch_that_fails_half_way_leaves_nothing(backend: Backend) -> None:
    first, second = corpus_file("ht"), corpus_file("sh")
    second_sha = hashlib.sha256(second[1]).hexdigest()
    app = create_app(backend.settings)
    async with running_client(app) as client:
        alice = await new_account(client, "alice@example.com")
        async with content_locked(backend.settings, second_sha) as connection:
            upload = asyncio.create_task(alice.upload(first, second))
            pid = await blocked_pid(connection, upload)  # both files stored, no sample committed
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        response = await upload
    assert_error(response, 500, "internal_error")  # the database went away mid-request
    assert await _row_counts(backend.settings) == (0, 0)
    assert backend.stored() == []


async def test_upload_to_storage_that_does_not_answer_is_503(
    database_url: str, tmp_path: Path
) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    overrides = SeaweedS3(tmp_path, endpoint_url=nothing_listens).settings_overrides("audio")
    settings = library_settings(database_url, tmp_path, **overrides)
    async with running_client(create_app(settings)) as client:
        alice = await new_account(client, "alice@example.com")
        response = await alice.upload(corpus_file("rd"))
    assert_error(response, 503, "storage_unavailable")
    assert await _row_counts(settings) == (0, 0)


def _file_part(name: str, data: bytes) -> bytes:
    """A multipart part, without the boundary line before it."""
    headers = f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n\r\n'
    return headers.encode() + data + b"\r\n"


async def test_storage_stopped_half_way_through_a_batch_is_503(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "s3").mkdir()
    server = SeaweedS3(tmp_path / "s3")
    server.start()
    prefix = server.new_prefix()
    settings = library_settings(database_url, tmp_path, **server.settings_overrides(prefix))
    (first_name, first), (second_name, second) = corpus_file("cr"), corpus_file("tb")

    async def body() -> AsyncIterator[bytes]:
        yield b"--xyz\r\n" + _file_part(first_name, first) + b"--xyz\r\n"  # first part ends
        while True:  # until the first file is in the bucket
            if await asyncio.to_thread(server.keys, prefix):
                break
            await asyncio.sleep(0.05)
        server.stop()
        yield _file_part(second_name, second) + b"--xyz--\r\n"

    try:
        async with running_client(create_app(settings)) as client:
            alice = await new_account(client, "alice@example.com")
            headers = {**alice.headers, "Content-Type": "multipart/form-data; boundary=xyz"}
            response = await client.post("/api/v1/audio/upload", content=body(), headers=headers)
    finally:
        server.stop()
    assert_error(response, 503, "storage_unavailable")
    assert await _row_counts(settings) == (0, 0)  # the first file stays in the dead bucket


async def test_batches_sharing_files_in_opposite_orders_do_not_deadlock(backend: Backend) -> None:
    # Each file's content lock is held until the batch commits; taken in arrival
    # order, [A, B] against [B, A] deadlocked and PostgreSQL aborted one upload (500).
    app = create_app(backend.settings)
    async with running_client(app) as client:
        alice = await new_account(client, "alice@example.com")
        bob = await new_account(client, "bob@example.com")
        for round_number in range(8):
            a, b = corpus_file("sd", 2 * round_number), corpus_file("sd", 2 * round_number + 1)
            responses = await asyncio.gather(alice.upload(a, b), bob.upload(b, a))
            for response in responses:
                assert response.status_code == 201, response.text
                assert not response.json()["errors"]
