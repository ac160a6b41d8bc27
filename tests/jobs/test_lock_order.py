"""Deleting a sample while its job is worked on: every transaction that writes a job
locks the job's sample first, as a deletion does (the sample, then its jobs through the
cascade), so the two wait for each other instead of PostgreSQL aborting one as a
deadlock.

Each race is stepped by hand: a third session holds a ``FOR KEY SHARE`` lock on the job
row, so the deletion locks the sample and waits for the job; the other transaction then
runs into the deletion; releasing the job lets the deletion finish first.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import asyncpg
import httpx
import numpy as np
import pytest

from samplemind.app import create_app
from samplemind.jobs.tasks import (
    WorkerContext,
    mark_failed,
    resend_interrupted,
    run_analysis_job,
)
from tests.conftest import REDIS_URL, running_client
from tests.samples.conftest import Account, library_settings, new_account, wav_bytes

HANG_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


@dataclass
class QueuedJob:
    """A sample whose job nobody runs (Celery mode, no worker), and a worker context
    to run the task's steps by hand."""

    alice: Account
    ctx: WorkerContext
    job_id: uuid.UUID
    sample_id: str
    dsn: str

    async def delete_sample(self) -> httpx.Response:
        url = f"/api/v1/audio/{self.sample_id}"
        return await self.alice.client.delete(url, headers=self.alice.headers)

    async def job_status(self) -> int:
        return (await self.alice.get(f"/api/v1/jobs/{self.job_id}")).status_code


def _short_noise() -> tuple[str, bytes]:
    rng = np.random.default_rng(3)
    return "noise.wav", wav_bytes((0.1 * rng.standard_normal(44100)).astype(np.float32))


@pytest.fixture
async def queued(database_url: str, tmp_path: Path) -> AsyncIterator[QueuedJob]:
    settings = library_settings(database_url, tmp_path, redis_url=REDIS_URL)
    ctx = WorkerContext.create(library_settings(database_url, tmp_path))
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    try:
        async with running_client(create_app(settings)) as client:
            alice = await new_account(client, "alice@example.com")
            [item] = await alice.upload_ok(_short_noise())
            job_id, sample_id = uuid.UUID(item["job"]["id"]), item["sample"]["id"]
            yield QueuedJob(alice, ctx, job_id, sample_id, dsn)
    finally:
        await ctx.engine.dispose()


@asynccontextmanager
async def _connection(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()


@asynccontextmanager
async def _job_locked(
    dsn: str, job_id: uuid.UUID, mode: Literal["KEY SHARE", "UPDATE"]
) -> AsyncIterator[None]:
    async with _connection(dsn) as holder:
        transaction = holder.transaction()
        await transaction.start()
        try:
            lock = f"SELECT 1 FROM jobs WHERE id = $1 FOR {mode}"  # noqa: S608  (a literal)
            await holder.execute(lock, job_id)
            yield
        finally:
            await transaction.rollback()


async def _wait_for_lock_waiters(observer: asyncpg.Connection, count: int) -> None:
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + HANG_TIMEOUT_SECONDS
    while await observer.fetchval(query) != count:
        assert time.monotonic() < deadline, f"never {count} sessions waiting for a lock"
        await asyncio.sleep(0.02)


async def _against_delete(
    queued: QueuedJob, step: Callable[[], Coroutine[Any, Any, T]]
) -> tuple[httpx.Response, T]:
    """``step`` started while the deletion holds the sample and waits for the job."""
    async with _connection(queued.dsn) as observer:
        async with _job_locked(queued.dsn, queued.job_id, "KEY SHARE"):
            deleting = asyncio.create_task(queued.delete_sample())
            await _wait_for_lock_waiters(observer, 1)
            stepping = asyncio.create_task(step())
            await _wait_for_lock_waiters(observer, 2)
        deleted = await asyncio.wait_for(deleting, HANG_TIMEOUT_SECONDS)
        return deleted, await asyncio.wait_for(stepping, HANG_TIMEOUT_SECONDS)


async def test_a_delete_racing_the_claim_of_its_job_ends_the_job_as_skipped(
    queued: QueuedJob,
) -> None:
    deleted, outcome = await _against_delete(
        queued, lambda: run_analysis_job(queued.job_id, queued.ctx)
    )
    assert deleted.status_code == 204, deleted.text
    assert outcome == "skipped"
    assert await queued.job_status() == 404


async def test_a_delete_racing_giving_up_on_its_job_succeeds(queued: QueuedJob) -> None:
    deleted, _ = await _against_delete(
        queued, lambda: mark_failed(queued.ctx, queued.job_id, code="internal_error", message="x")
    )
    assert deleted.status_code == 204, deleted.text
    assert await queued.job_status() == 404


async def test_the_sweep_skips_a_job_locked_by_a_transaction_instead_of_waiting(
    queued: QueuedJob,
) -> None:
    async def sweep() -> list[uuid.UUID]:
        async with queued.ctx.sessionmaker() as db:
            job_ids = await resend_interrupted(db, stale_queued_after=timedelta(0))
            await db.commit()
            return job_ids

    async with _job_locked(queued.dsn, queued.job_id, "UPDATE"):  # as a deletion locks it
        assert await asyncio.wait_for(sweep(), HANG_TIMEOUT_SECONDS) == []
    assert await sweep() == [queued.job_id]


async def test_analyze_racing_a_delete_finds_no_sample(queued: QueuedJob) -> None:
    async with _connection(queued.dsn) as connection:  # analysed: a new job is made
        await connection.execute("UPDATE jobs SET status = 'done' WHERE id = $1", queued.job_id)
    alice = queued.alice
    body = {"audio_id": queued.sample_id}
    deleted, analyzed = await _against_delete(
        queued, lambda: alice.client.post("/api/v1/audio/analyze", json=body, headers=alice.headers)
    )
    assert deleted.status_code == 204, deleted.text
    assert analyzed.status_code == 404, analyzed.text
