"""Where the API sends committed jobs: Celery (with Redis) or a local process pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from samplemind.core.config import Settings
from samplemind.jobs import runner
from samplemind.jobs.tasks import release_leases, resend_interrupted

logger = logging.getLogger(__name__)


class JobQueue(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def enqueue(self, job_ids: list[uuid.UUID]) -> None:
        """Deliver jobs whose rows are already committed."""
        ...


class CeleryJobQueue:
    def __init__(self, settings: Settings) -> None:
        from samplemind.jobs.celery_app import create_celery

        self._settings = settings
        self._app = create_celery(settings)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def enqueue(self, job_ids: list[uuid.UUID]) -> None:
        from samplemind.jobs.celery_app import send_jobs

        ids = [str(job_id) for job_id in job_ids]
        await asyncio.to_thread(send_jobs, self._app, ids, queue=self._settings.celery_queue)


class LocalJobQueue:
    """A process pool inside ``serve``; a sweeper re-runs jobs interrupted by a crash."""

    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._settings = settings
        self._sessionmaker = sessionmaker
        self._payload = settings.worker_payload()
        self._workers = settings.analysis_workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._in_flight: set[uuid.UUID] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            async with self._sessionmaker() as db:  # local mode: jobs left by a crash
                await release_leases(db)
                await db.commit()
            await self._sweep(stale_queued_after=timedelta(0))
        except (OSError, SQLAlchemyError):  # /health reports it; the sweeper retries
            logger.exception("could not recover interrupted jobs at start-up")
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def enqueue(self, job_ids: list[uuid.UUID]) -> None:
        for job_id in job_ids:
            if job_id not in self._in_flight:
                self._submit(job_id)

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded event loop
        return ProcessPoolExecutor(self._workers, mp_context=context)

    def _submit(self, job_id: uuid.UUID) -> None:
        if self._pool is None:  # started on first use: most requests never analyse
            self._pool = self._new_pool()
        try:
            future = self._pool.submit(runner.run_job, str(job_id), self._payload)
        except BrokenProcessPool:
            self._pool = self._new_pool()
            future = self._pool.submit(runner.run_job, str(job_id), self._payload)
        self._in_flight.add(job_id)
        future.add_done_callback(lambda done: self._finished(job_id, done))

    def _finished(self, job_id: uuid.UUID, future: Future[str]) -> None:
        self._in_flight.discard(job_id)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:  # handed back or still leased: the sweeper re-sends it
            logger.warning("analysis job %s failed in the pool: %r", job_id, error)

    async def _sweep(self, *, stale_queued_after: timedelta) -> None:
        async with self._sessionmaker() as db:
            job_ids = await resend_interrupted(db, stale_queued_after=stale_queued_after)
            await db.commit()
        await self.enqueue(job_ids)

    async def _sweep_forever(self) -> None:
        stale = timedelta(seconds=self._settings.job_lease_seconds)
        while True:
            await asyncio.sleep(self._settings.job_sweep_seconds)
            try:
                await self._sweep(stale_queued_after=stale)
            except Exception:
                logger.exception("job sweep failed")
