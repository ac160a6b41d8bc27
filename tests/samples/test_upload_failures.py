"""Uploads that meet a concurrent deletion or a failing storage: a clean error, nothing
left behind (no row, no stored file)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import pytest

from samplemind.app import create_app
from samplemind.core.config import Settings
from tests.auth.helpers import assert_error
from tests.conftest import running_client
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
