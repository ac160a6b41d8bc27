"""Jobs run by the local process pool inside ``serve`` (no Redis)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from samplemind.app import create_app
from tests.conftest import running_client
from tests.samples.conftest import (
    JOB_TIMEOUT_SECONDS,
    Account,
    DirectoryOutage,
    corpus_file,
    library_settings,
    long_take,
    new_account,
)


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


async def job_after_claims(account: Account, job_id: str, *, claims: int) -> dict[str, Any]:
    """The job once ``claims`` runs of it were handed back to the queue, or once it ended."""
    handed_back: set[str] = set()  # each run (claim) sets started_at anew
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await account.get(f"/api/v1/jobs/{job_id}")).json()
        if job["status"] in ("done", "failed"):
            return job
        if job["status"] == "queued" and job["started_at"] is not None:
            handed_back.add(job["started_at"])
        if len(handed_back) >= claims:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} was not run {claims} times")


async def reanalyse_during_an_outage(account: Account, outage: DirectoryOutage) -> None:
    """Re-analysing a sample with the storage down is accepted and waits for the storage
    beyond the job's attempts (``job_max_attempts=2``), then completes."""
    [sample] = await account.ingest(corpus_file("perc"))
    outage.stop()
    accepted = await account.client.post(
        "/api/v1/audio/analyze", json={"audio_id": sample["id"]}, headers=account.headers
    )
    assert accepted.status_code == 202, accepted.text
    job = await job_after_claims(account, accepted.json()["id"], claims=3)
    assert job["status"] == "queued", job
    assert "NotADirectoryError" in job["error_message"]
    assert (await account.get(f"/api/v1/audio/{sample['id']}")).json()["status"] == "pending"
    outage.start()
    done = await account.wait_for_job(job["id"])
    assert done["status"] == "done" and done["error_message"] is None, done
    assert (await account.get(f"/api/v1/audio/{sample['id']}")).json()["status"] == "ready"


async def test_a_storage_outage_does_not_fail_the_analysis(
    database_url: str, tmp_path: Path
) -> None:
    # Short leases: the sweeper re-sends a handed-back job within seconds.
    overrides = {"job_lease_seconds": 3, "job_max_attempts": 2}
    settings = library_settings(database_url, tmp_path, **overrides)
    async with running_client(create_app(settings)) as client:
        alice = await new_account(client, "alice@example.com")
        await reanalyse_during_an_outage(alice, DirectoryOutage(settings.data_dir / "audio"))
