"""Process-level entry point of the analysis task, shared by the local pool and Celery.

Each worker process keeps one event loop and one database engine for its lifetime.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from samplemind.analysis.batch import limit_blas_threads
from samplemind.core.config import Settings, get_settings
from samplemind.core.db import create_engine, create_sessionmaker
from samplemind.jobs.tasks import (
    WorkerContext,
    mark_failed,
    resend_interrupted,
    run_analysis_job,
)

_loop: asyncio.AbstractEventLoop | None = None
_context: WorkerContext | None = None
_configured_payload: dict[str, Any] | None = None


def configure(settings_payload: dict[str, Any]) -> None:
    """Settings for the jobs this process (and the children it forks) will run."""
    global _configured_payload
    _configured_payload = settings_payload


def _worker(
    settings_payload: dict[str, Any] | None,
) -> tuple[asyncio.AbstractEventLoop, WorkerContext]:
    global _loop, _context
    settings_payload = settings_payload or _configured_payload
    if _loop is None or _context is None:
        settings = (
            Settings(_env_file=None, **settings_payload)
            if settings_payload is not None
            else get_settings()
        )
        limit_blas_threads()
        _loop = asyncio.new_event_loop()
        _context = WorkerContext.create(settings)
    return _loop, _context


def run_job(job_id: str, settings_payload: dict[str, Any] | None = None) -> str:
    """Run one analysis job in this process: "done", "failed", "skipped" or "deferred"."""
    loop, context = _worker(settings_payload)
    return loop.run_until_complete(run_analysis_job(uuid.UUID(job_id), context))


def give_up(job_id: str, message: str, settings_payload: dict[str, Any] | None = None) -> None:
    loop, context = _worker(settings_payload)
    loop.run_until_complete(
        mark_failed(context, uuid.UUID(job_id), code="internal_error", message=message)
    )


def recover_jobs(settings: Settings, *, stale_queued_after: timedelta | None) -> list[str]:
    """Ids of interrupted jobs, marked as re-sent; runs on its own short-lived loop."""

    async def sweep() -> list[str]:
        engine = create_engine(settings.database_url or "")
        try:
            async with create_sessionmaker(engine)() as db:
                job_ids = await resend_interrupted(db, stale_queued_after=stale_queued_after)
                await db.commit()
                return [str(job_id) for job_id in job_ids]
        finally:
            await engine.dispose()

    return asyncio.run(sweep())
