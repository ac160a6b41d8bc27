"""The analysis task: the same code runs in the local pool and in Celery workers.

It is idempotent and safe to retry: a job is claimed with a lease by one atomic UPDATE
(queued, or running with an expired lease, i.e. its worker died), and its result is
written in one transaction with the job's completion. A sample deleted while its job
runs takes the job row with it; the task then drops its result and ends as "skipped".

Every transaction that writes a job locks its sample's row first: a deletion locks the
sample, then (its cascade) the jobs, so taking them in the other order could deadlock.
With the audio storage unavailable, the job goes back to the queue without using up an
attempt and the task ends as "deferred": an outage, however long, does not fail it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from samplemind.analysis.pipeline import analyze_bytes
from samplemind.core.config import Settings
from samplemind.core.db import create_engine, create_sessionmaker
from samplemind.jobs.events import (
    EventPublisher,
    OwnedEvent,
    PostgresEventPublisher,
    RedisEventPublisher,
    commit_with_events,
    make_event,
)
from samplemind.models import Job, Sample
from samplemind.samples.service import sample_display_path, store_analysis
from samplemind.samples.storage import Storage, StorageUnavailable, create_storage

logger = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: Storage
    publisher: EventPublisher

    @classmethod
    def create(cls, settings: Settings) -> WorkerContext:
        if not settings.database_url:
            raise RuntimeError("workers need SAMPLEMIND_DATABASE_URL")
        engine = create_engine(settings.database_url)
        publisher: EventPublisher
        if settings.redis_url:
            from redis.asyncio import Redis

            publisher = RedisEventPublisher(
                Redis.from_url(settings.redis_url), prefix=settings.redis_prefix
            )
        else:
            publisher = PostgresEventPublisher()
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            storage=create_storage(settings),
            publisher=publisher,
        )


def job_event(job: Job, **extra: Any) -> dict[str, Any]:
    return make_event(
        "job.progress",
        job_id=str(job.id),
        sample_id=str(job.sample_id),
        status=job.status,
        progress=job.progress,
        **extra,
    )


async def claim_job(
    db: AsyncSession, job_id: uuid.UUID, *, lease: timedelta
) -> tuple[Job, Sample] | None:
    """The job, leased, and its sample, locked; ``None`` if the job is done, leased by
    another worker, or gone with its sample."""
    sample = await _lock_sample_of(db, job_id)
    if sample is None:
        return None
    job = await _lease(db, job_id, lease=lease)
    return None if job is None else (job, sample)


async def _lease(db: AsyncSession, job_id: uuid.UUID, *, lease: timedelta) -> Job | None:
    now = datetime.now(UTC)
    claimed: Job | None = await db.scalar(
        update(Job)
        .where(
            Job.id == job_id,
            or_(
                Job.status == "queued",
                (Job.status == "running") & (Job.lease_expires_at < now),
            ),
        )
        .values(
            status="running",
            progress=10,
            attempts=Job.attempts + 1,
            lease_expires_at=now + lease,
            started_at=now,
        )
        .returning(Job)
    )
    return claimed


async def run_analysis_job(job_id: uuid.UUID, ctx: WorkerContext) -> str:
    """Run one job; returns what happened ("done", "failed", "skipped", "deferred")."""
    lease = timedelta(seconds=ctx.settings.job_lease_seconds)
    async with ctx.sessionmaker() as db:
        claimed = await claim_job(db, job_id, lease=lease)
        if claimed is None:
            await db.rollback()
            return "skipped"
        job, sample = claimed
        if job.attempts > ctx.settings.job_max_attempts:
            message = f"gave up after {job.attempts - 1} interrupted attempts"
            if job.error_message:
                message += f"; the last error: {job.error_message}"
            await _fail(db, ctx, job, sample, code="internal_error", message=message)
            return "failed"
        sample.status = "analyzing"
        await commit_with_events(db, ctx.publisher, [(job.owner_id, job_event(job))])

        try:
            data = await asyncio.to_thread(ctx.storage.read_bytes, sample.content_sha256)
        except StorageUnavailable as outage:
            return await _wait_for_storage(db, ctx, job, sample, outage)
        except Exception as exc:
            if await _lock_sample(db, sample.id) is None:  # deleted, and its file with it
                return await _drop(db, job_id)
            await _release(db, ctx, job, sample, error=exc)
            raise
        record = analyze_bytes(
            data,
            name=sample_display_path(sample),
            embedding=True,
            max_duration=ctx.settings.max_audio_duration_seconds,
        )
        if await _lock_sample(db, sample.id) is None:
            return await _drop(db, job_id)
        store_analysis(sample, record)
        if record.error:
            await _fail(db, ctx, job, sample, **record.error)
            return "failed"
        _close(job, status="done")
        analyzed = make_event("sample.analyzed", sample_id=str(sample.id), job_id=str(job.id))
        events: list[OwnedEvent] = [(job.owner_id, job_event(job)), (job.owner_id, analyzed)]
        await commit_with_events(db, ctx.publisher, events)
        return "done"


async def _lock_sample(
    db: AsyncSession, sample_id: uuid.UUID | ColumnElement[uuid.UUID]
) -> Sample | None:
    """The sample as it is now, locked until the commit; ``None`` once deleted.

    The lock makes a concurrent delete wait for the result to be written instead of
    removing the rows under it; the fresh copy keeps corrections made meanwhile.
    """
    sample: Sample | None = await db.scalar(
        select(Sample)
        .where(Sample.id == sample_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return sample


async def _lock_sample_of(db: AsyncSession, job_id: uuid.UUID) -> Sample | None:
    """The job's sample, locked as by ``_lock_sample``, before the job row is touched."""
    return await _lock_sample(db, select(Job.sample_id).where(Job.id == job_id).scalar_subquery())


async def _drop(db: AsyncSession, job_id: uuid.UUID) -> str:
    """End a job whose sample was deleted while it ran (the job row went with it)."""
    await db.rollback()
    logger.info("analysis job %s dropped: its sample was deleted meanwhile", job_id)
    return "skipped"


async def _release(
    db: AsyncSession, ctx: WorkerContext, job: Job, sample: Sample, *, error: BaseException
) -> None:
    """Hand a claimed job back to the queue after a transient error (storage
    unreachable), so a retry can claim it at once instead of waiting out the lease."""
    job.status = "queued"
    job.progress = 0
    job.lease_expires_at = None
    job.error_message = f"{type(error).__name__}: {error}"[:2000]
    sample.status = "pending"
    await commit_with_events(db, ctx.publisher, [(job.owner_id, job_event(job))])


async def _wait_for_storage(
    db: AsyncSession, ctx: WorkerContext, job: Job, sample: Sample, outage: StorageUnavailable
) -> str:
    """Hand the job back without counting this attempt; it is run again once re-sent
    (a retry, or the sweeper), however long the storage stays down."""
    if await _lock_sample(db, sample.id) is None:  # deleted meanwhile
        return await _drop(db, job.id)
    cause = outage.__cause__ or outage
    logger.warning("analysis job %s waits for the audio storage: %r", job.id, cause)
    job.attempts -= 1
    await _release(db, ctx, job, sample, error=cause)
    return "deferred"


def _close(job: Job, *, status: str) -> None:
    job.status = status
    job.error_code = job.error_message = None  # a retried job may hold its last error
    job.progress = 100
    job.finished_at = datetime.now(UTC)
    job.lease_expires_at = None


async def _fail(
    db: AsyncSession, ctx: WorkerContext, job: Job, sample: Sample, *, code: str, message: str
) -> None:
    _close(job, status="failed")
    job.error_code = sample.error_code = code
    job.error_message = sample.error_message = message[:2000]
    sample.status = "failed"
    error = {"code": code, "message": job.error_message}
    failed = make_event("sample.failed", sample_id=str(sample.id), job_id=str(job.id), error=error)
    events: list[OwnedEvent] = [(job.owner_id, job_event(job)), (job.owner_id, failed)]
    await commit_with_events(db, ctx.publisher, events)


async def mark_failed(ctx: WorkerContext, job_id: uuid.UUID, *, code: str, message: str) -> None:
    """Give up on a job after its retries (storage or database errors, not bad audio)."""
    async with ctx.sessionmaker() as db:
        sample = await _lock_sample_of(db, job_id)
        job = await db.get(Job, job_id) if sample is not None else None
        if sample is None or job is None or job.status in ("done", "failed"):
            return
        await _fail(db, ctx, job, sample, code=code, message=message)


async def resend_interrupted(
    db: AsyncSession, *, stale_queued_after: timedelta | None
) -> list[uuid.UUID]:
    """Jobs whose worker died (expired lease) or, unless ``stale_queued_after`` is
    ``None``, queued jobs whose message may be lost.

    Their ``updated_at`` is touched so the next sweep leaves them alone for a while. A
    job locked by a transaction (a claim, a result, a deletion) is skipped, not waited
    for: it is being worked on, and a sweep that waits while it holds other jobs could
    deadlock.
    """
    now = datetime.now(UTC)
    interrupted: ColumnElement[bool] = (Job.status == "running") & (Job.lease_expires_at < now)
    if stale_queued_after is not None:
        lost = (Job.status == "queued") & (Job.updated_at < now - stale_queued_after)
        interrupted = or_(interrupted, lost)
    unlocked = select(Job.id).where(interrupted).with_for_update(key_share=True, skip_locked=True)
    rows = await db.scalars(
        update(Job).where(Job.id.in_(unlocked)).values(updated_at=now).returning(Job.id)
    )
    return list(rows)


async def release_leases(db: AsyncSession) -> None:
    """Make every running job claimable now (its only possible runner has exited)."""
    await db.execute(
        update(Job).where(Job.status == "running").values(lease_expires_at=datetime.now(UTC))
    )
