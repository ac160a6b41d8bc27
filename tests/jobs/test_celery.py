"""Jobs delivered by Celery to a real worker process; a killed worker loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from samplemind.app import create_app
from samplemind.core.config import Settings
from samplemind.jobs.celery_app import create_celery, queued_messages, sweep_once
from tests.conftest import REDIS_URL, running_client
from tests.jobs.test_local_pool import reanalyse_during_an_outage
from tests.samples.conftest import (
    Account,
    DirectoryOutage,
    corpus_file,
    library_settings,
    long_take,
    new_account,
)
from tests.seaweed import SeaweedS3


class Worker:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLEMIND_")}
        env.update({
            "SAMPLEMIND_DATABASE_URL": self.settings.database_url or "",
            "SAMPLEMIND_REDIS_URL": REDIS_URL,
            "SAMPLEMIND_REDIS_PREFIX": self.settings.redis_prefix,
            "SAMPLEMIND_CELERY_QUEUE": self.settings.celery_queue,
            "SAMPLEMIND_DATA_DIR": str(self.settings.data_dir),
            "SAMPLEMIND_SECRET_KEY": self.settings.signing_key(),
            "SAMPLEMIND_JOB_LEASE_SECONDS": str(self.settings.job_lease_seconds),
            "SAMPLEMIND_JOB_SWEEP_SECONDS": str(self.settings.job_sweep_seconds),
            "SAMPLEMIND_JOB_MAX_ATTEMPTS": str(self.settings.job_max_attempts),
        })  # fmt: skip
        env.update(_storage_environment(self.settings))
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "samplemind.cli", "worker", "--concurrency", "1"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once, as a crash would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process = None


def _storage_environment(settings: Settings) -> dict[str, str]:
    """The S3 settings as the worker's environment (none for local storage)."""
    secret = settings.s3_secret_access_key
    values = {
        "STORAGE_URL": settings.storage_url,
        "S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "S3_REGION": settings.s3_region,
        "S3_ACCESS_KEY_ID": settings.s3_access_key_id,
        "S3_SECRET_ACCESS_KEY": secret.get_secret_value() if secret is not None else None,
    }
    return {f"SAMPLEMIND_{name}": value for name, value in values.items() if value is not None}


@pytest.fixture
def celery_settings(database_url: str, tmp_path: Path) -> Settings:
    return library_settings(
        database_url, tmp_path, redis_url=REDIS_URL, job_lease_seconds=4, job_sweep_seconds=1.0
    )


@pytest.fixture
def worker(celery_settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    running = Worker(celery_settings, tmp_path / "worker.log")
    running.start()
    yield running
    running.stop()


async def test_celery_worker_analyses_uploads(celery_settings: Settings, worker: Worker) -> None:
    async with running_client(create_app(celery_settings)) as client:
        alice = await new_account(client, "alice@example.com")
        samples = await alice.ingest(corpus_file("bd"), corpus_file("sd"))
    assert all(sample["status"] == "ready" for sample in samples)
    assert all(sample["analysis"]["error"] is None for sample in samples)


async def test_celery_worker_reads_uploads_from_the_bucket(
    database_url: str, tmp_path: Path, s3_server: SeaweedS3
) -> None:
    prefix = s3_server.new_prefix()
    settings = library_settings(
        database_url, tmp_path, redis_url=REDIS_URL, **s3_server.settings_overrides(prefix)
    )
    worker = Worker(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with running_client(create_app(settings)) as client:
            alice = await new_account(client, "alice@example.com")
            [sample] = await alice.ingest(corpus_file("hh"))
    finally:
        worker.stop()
    assert sample["status"] == "ready" and sample["analysis"]["error"] is None, sample
    assert sample["analysis"]["category"] is not None
    [key] = s3_server.keys(prefix)
    assert key.endswith(sample["content_sha256"])
    assert not any((tmp_path / "data" / "audio").rglob("*"))  # nothing was stored locally
    assert "Task samplemind.analyze" in (tmp_path / "worker.log").read_text()


async def test_a_storage_error_hands_the_job_back_for_an_immediate_retry(
    database_url: str, tmp_path: Path
) -> None:
    # A lease far longer than the test: only the retry, not the sweeper, can finish the job.
    settings = library_settings(database_url, tmp_path, redis_url=REDIS_URL, job_lease_seconds=600)
    worker = Worker(settings, tmp_path / "worker.log")
    async with running_client(create_app(settings)) as client:
        alice = await new_account(client, "alice@example.com")
        [item] = await alice.upload_ok(corpus_file("sd"))
        job_id = item["job"]["id"]
        [blob] = [
            p for p in (tmp_path / "data").rglob("*") if item["sample"]["content_sha256"] in p.name
        ]
        hidden = blob.rename(tmp_path / "hidden")  # the storage loses the file for a while
        worker.start()
        try:
            released = await _wait_for_job(alice, job_id, lambda job: job["error_message"])
            assert released["status"] == "queued" and released["attempts"] == 1, released
            assert "FileNotFoundError" in released["error_message"]
            hidden.rename(blob)
            job = await alice.wait_for_job(job_id)
        finally:
            worker.stop()
        sample = await _sample(alice, item["sample"]["id"])
    assert job["status"] == "done" and job["attempts"] >= 2, job
    assert job["error_code"] is None and job["error_message"] is None
    assert sample["status"] == "ready"


async def test_a_storage_outage_does_not_fail_the_analysis(
    database_url: str, tmp_path: Path
) -> None:
    overrides = {"job_lease_seconds": 3, "job_max_attempts": 2}
    settings = library_settings(database_url, tmp_path, redis_url=REDIS_URL, **overrides)
    worker = Worker(settings, tmp_path / "worker.log")
    worker.start()
    try:
        async with running_client(create_app(settings)) as client:
            alice = await new_account(client, "alice@example.com")
            await reanalyse_during_an_outage(alice, DirectoryOutage(settings.data_dir / "audio"))
    finally:
        worker.stop()


async def _wait_for_job(
    alice: Account, job_id: str, condition: Callable[[dict[str, Any]], object]
) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await alice.get(f"/api/v1/jobs/{job_id}")).json()
        if condition(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached the state")


async def _sample(alice: Account, sample_id: str) -> dict[str, Any]:
    sample: dict[str, Any] = (await alice.get(f"/api/v1/audio/{sample_id}")).json()
    return sample


async def test_a_job_survives_its_worker_being_killed(
    celery_settings: Settings, worker: Worker
) -> None:
    async with running_client(create_app(celery_settings)) as client:
        alice = await new_account(client, "alice@example.com")
        [item] = await alice.upload_ok(long_take())
        job_id = item["job"]["id"]
        await alice.wait_until_running(job_id)
        worker.kill()
        interrupted = (await alice.get(f"/api/v1/jobs/{job_id}")).json()
        assert interrupted["status"] == "running"
        worker.start()
        job = await alice.wait_for_job(job_id)
    assert job["status"] == "done", job
    assert job["attempts"] == 2


async def _age_jobs(database_url: str, *, hours: int) -> None:
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "UPDATE jobs SET updated_at = updated_at - make_interval(hours => $1)", hours
        )
    finally:
        await connection.close()


async def test_sweeper_resends_queued_jobs_only_once_the_broker_lost_them(
    celery_settings: Settings,
) -> None:
    app = create_celery(celery_settings)
    queue = celery_settings.celery_queue
    async with running_client(create_app(celery_settings)) as client:  # no worker runs
        alice = await new_account(client, "alice@example.com")
        items = await alice.upload_ok(corpus_file("bd"), corpus_file("sd"))
    job_ids = {item["job"]["id"] for item in items}
    assert celery_settings.database_url is not None
    await _age_jobs(celery_settings.database_url, hours=1)
    assert await asyncio.to_thread(queued_messages, app, queue=queue) == 2

    assert await asyncio.to_thread(sweep_once, app, celery_settings) == []  # still queued

    await asyncio.to_thread(app.control.purge)  # the broker loses its messages
    assert await asyncio.to_thread(queued_messages, app, queue=queue) == 0
    assert set(await asyncio.to_thread(sweep_once, app, celery_settings)) == job_ids
    assert await asyncio.to_thread(queued_messages, app, queue=queue) == 2
    assert await asyncio.to_thread(sweep_once, app, celery_settings) == []  # just re-sent


def _task_outcome(log: Path) -> str:
    """The worker log's first line saying how a task ended (succeeded, retry, raised)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "Task samplemind.analyze[" in line and "received" not in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"no task ended:\n{log.read_text(errors='replace')}")


async def test_a_sample_deleted_while_analysed_ends_its_task_quietly(
    celery_settings: Settings, worker: Worker
) -> None:
    async with running_client(create_app(celery_settings)) as client:
        alice = await new_account(client, "alice@example.com")
        [item] = await alice.upload_ok(long_take())
        job_id, sample_id = item["job"]["id"], item["sample"]["id"]
        await alice.wait_until_running(job_id)
        deleted = await alice.client.delete(f"/api/v1/audio/{sample_id}", headers=alice.headers)
        assert deleted.status_code == 204
        outcome = await asyncio.to_thread(_task_outcome, worker.log)
        assert (await alice.get(f"/api/v1/jobs/{job_id}")).status_code == 404  # went with it
    assert "succeeded" in outcome and "'skipped'" in outcome, outcome
    log = worker.log.read_text(errors="replace")
    assert "Traceback" not in log and "StaleDataError" not in log, log
