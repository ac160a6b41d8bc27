"""Jobs run by the local process pool inside ``serve`` (no Redis)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from samplemind.app import create_app
from tests.conftest import running_client
from tests.samples.conftest import library_settings, long_take, new_account


async def test_a_sample_deleted_while_analysed_ends_its_job_quietly(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="samplemind")
    settings = library_settings(database_url, tmp_path)
    async with running_client(create_app(settings)) as client:
        alice = await new_account(client, "alice@example.com")
        [item] = await alice.upload_ok(long_take())
        job_id, sample_id = item["job"]["id"], item["sample"]["id"]
        await alice.wait_until_running(job_id)
        deleted = await alice.client.delete(f"/api/v1/audio/{sample_id}", headers=alice.headers)
        assert deleted.status_code == 204
        assert (await alice.get(f"/api/v1/jobs/{job_id}")).status_code == 404  # went with it
    # Leaving the client stops the pool, which waits for the job to end.
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []
