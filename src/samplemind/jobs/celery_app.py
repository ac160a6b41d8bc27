"""Celery delivery of analysis jobs (when SAMPLEMIND_REDIS_URL is set).

Acks late and rejects on worker loss, so a job whose worker dies is delivered again;
the task is idempotent (see ``samplemind.jobs.tasks``). A sweeper thread in each worker
re-sends jobs whose lease expired, and queued jobs whose message the broker lost.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from celery import Celery, Task
from celery.signals import worker_ready

from samplemind.core.config import Settings
from samplemind.jobs import runner

logger = logging.getLogger(__name__)
TASK_NAME = "samplemind.analyze"
MAX_RETRIES = 5


def create_celery(settings: Settings) -> Celery:
    app = Celery("samplemind", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.job_lease_seconds * 2},
    )

    @app.task(name=TASK_NAME, bind=True, max_retries=MAX_RETRIES)  # type: ignore[untyped-decorator]
    def analyze(task: Task, job_id: str) -> str:
        try:
            outcome = runner.run_job(job_id)
        except Exception as exc:
            if task.request.retries >= MAX_RETRIES:
                runner.give_up(job_id, f"{type(exc).__name__}: {exc}")
                raise
            raise task.retry(exc=exc, countdown=_backoff(task)) from exc
        if outcome == "deferred" and task.request.retries < MAX_RETRIES:
            raise task.retry(countdown=_backoff(task))  # the storage may be back soon
        return outcome  # deferred past the retries: queued, for the sweeper to re-send

    return app


def _backoff(task: Task) -> int:
    return int(min(60, 2**task.request.retries))


def send_jobs(app: Celery, job_ids: list[str], *, queue: str) -> None:
    for job_id in job_ids:
        app.send_task(TASK_NAME, args=[job_id], queue=queue)


def queued_messages(app: Celery, *, queue: str) -> int:
    """How many messages wait in the broker queue (not counting those being worked on)."""
    with app.connection_for_write() as connection:
        declared = connection.default_channel.queue_declare(queue=queue)
        return int(declared.message_count)


def sweep_once(app: Celery, settings: Settings) -> list[str]:
    """Re-send the jobs whose worker died and, once the broker queue has drained, the
    queued jobs it no longer holds (a message lost with the broker).

    While the queue still holds messages, a queued job is most likely one of them:
    re-sending it would only flood a long backlog with duplicates.
    """
    stale = timedelta(seconds=settings.job_lease_seconds)
    drained = queued_messages(app, queue=settings.celery_queue) == 0
    job_ids = runner.recover_jobs(settings, stale_queued_after=stale if drained else None)
    send_jobs(app, job_ids, queue=settings.celery_queue)
    return job_ids


def _sweep_forever(app: Celery, settings: Settings, stop: threading.Event) -> None:
    while not stop.wait(settings.job_sweep_seconds):
        try:
            job_ids = sweep_once(app, settings)
            if job_ids:
                logger.info("re-sent %d interrupted jobs", len(job_ids))
        except Exception:
            logger.exception("job sweep failed")


def run_worker(settings: Settings, *, concurrency: int) -> None:
    """Run a Celery worker in this process (blocks); children inherit ``settings``."""
    runner.configure(settings.worker_payload())
    app = create_celery(settings)
    stop = threading.Event()

    def start_sweeper(**_: Any) -> None:
        sweeper = threading.Thread(target=_sweep_forever, args=(app, settings, stop), daemon=True)
        sweeper.start()

    worker_ready.connect(start_sweeper, weak=False)
    try:
        app.worker_main(
            [
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                f"--queues={settings.celery_queue}",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        stop.set()
