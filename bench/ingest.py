"""Benchmark: ingesting the drum corpus through the real API, with both job backends.

What is measured
    The whole corpus (``--limit N`` for fewer files: a seeded random subset) is
    uploaded to a real ``samplemind serve`` subprocess as multipart requests of
    ``--batch`` files under the field ``files`` (``--concurrency`` requests in
    flight; each file named ``<label>/<file>.flac`` so the label becomes its
    folder). Then the bench waits until every new sample is ``ready`` or
    ``failed``, polling the database (which it owns) every ``--poll`` seconds;
    the API's own totals (``GET /api/v1/audio?status=...``) are checked at the end.

    Backends, each in a fresh embedded PostgreSQL and data dir (temp, deleted):

    * ``local``: ``serve`` without ``SAMPLEMIND_REDIS_URL``, so jobs run in its own
      process pool (``analysis_workers`` default: one per core);
    * ``celery``: ``serve`` with ``SAMPLEMIND_REDIS_URL`` (a unique queue and key
      prefix per run) plus one ``samplemind worker --concurrency 2`` with the same
      environment and database.

    Printed per backend: upload throughput (files/s and MB/s over the upload
    phase), per-request upload latency, end-to-end files/s (first byte sent to
    the last sample ready or failed), time until the last analysis was stored
    (``max(jobs.finished_at)``), ready/failed counts and failure codes, job
    queue wait and run time percentiles, jobs that needed more than one attempt,
    and any traceback in the server or worker logs.

    Processes, temp dirs, Redis keys with the run's prefix, its queue keys and its
    leftover ``unacked`` entries are removed even when the run fails.

Usage::

    python bench/ingest.py [--backend local celery] [--limit N] [--batch 25]
                           [--concurrency 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import (
    DEFAULT_CORPUS,
    Process,
    bench_database,
    bench_env,
    machine_summary,
    percentiles,
    register_user,
    start_serve,
    start_worker,
)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TERMINAL = ("ready", "failed")


@dataclass
class UploadStats:
    files_sent: int = 0
    bytes_sent: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    http_errors: dict[str, int] = field(default_factory=dict)
    request_ms: list[float] = field(default_factory=list)
    first_error: str | None = None


def corpus_files(corpus: Path, limit: int | None, *, seed: int) -> list[Path]:
    files = sorted(corpus.glob("*/*.flac"))
    if limit is not None and limit < len(files):
        files = sorted(random.Random(seed).sample(files, limit))
    return files


async def upload_all(
    base_url: str,
    token: str,
    corpus: Path,
    files: list[Path],
    *,
    batch: int,
    concurrency: int,
) -> UploadStats:
    stats = UploadStats()
    batches = [files[i : i + batch] for i in range(0, len(files), batch)]
    pending = iter(batches)
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(600.0)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout) as client:

        async def send_batches() -> None:
            for chunk in pending:
                parts = []
                for path in chunk:
                    data = await asyncio.to_thread(path.read_bytes)
                    stats.bytes_sent += len(data)
                    name = path.relative_to(corpus).as_posix()
                    parts.append(("files", (name, data, "audio/flac")))
                started = time.perf_counter()
                response = await client.post("/api/v1/audio/upload", files=parts)
                stats.request_ms.append((time.perf_counter() - started) * 1000)
                stats.files_sent += len(chunk)
                _count_response(stats, response)

        await asyncio.gather(*(send_batches() for _ in range(concurrency)))
    return stats


def _count_response(stats: UploadStats, response: httpx.Response) -> None:
    if response.status_code != 201:
        key = str(response.status_code)
        stats.http_errors[key] = stats.http_errors.get(key, 0) + 1
        try:
            body = response.json()
        except ValueError:
            body = {}
        for detail in body.get("details") or []:  # every file refused
            code = (detail.get("error") or {}).get("code", "unknown")
            stats.rejected[code] = stats.rejected.get(code, 0) + 1
        stats.first_error = stats.first_error or f"{response.status_code} {response.text[:500]}"
        return
    body = response.json()
    for item in body["items"]:
        if item["duplicate"]:
            stats.duplicates += 1
        else:
            stats.created += 1
    for rejection in body["errors"]:
        code = rejection["error"]["code"]
        stats.rejected[code] = stats.rejected.get(code, 0) + 1


async def _status_counts(engine: Any) -> dict[str, int]:
    from sqlalchemy import text

    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT status, count(*) FROM samples GROUP BY 1"))
        return {status: int(count) for status, count in rows}


async def ingest(
    base_url: str,
    token: str,
    database_url: str,
    corpus: Path,
    files: list[Path],
    args: argparse.Namespace,
    processes: list[Process],
) -> dict[str, Any]:
    from sqlalchemy import text

    from samplemind.core.db import create_engine

    engine = create_engine(database_url)
    result: dict[str, Any] = {}
    try:
        wall_start = datetime.now(UTC)
        started = time.perf_counter()
        upload_task = asyncio.create_task(
            upload_all(
                base_url, token, corpus, files, batch=args.batch, concurrency=args.concurrency
            )
        )
        progress: list[tuple[float, dict[str, int]]] = []
        upload_seconds: float | None = None
        stats: UploadStats | None = None
        last_change = last_print = time.perf_counter()
        last_done = -1
        while True:
            await asyncio.sleep(args.poll)
            now = time.perf_counter()
            if upload_task.done() and stats is None:
                stats = upload_task.result()
                upload_seconds = now - started  # to within one poll interval
            counts = await _status_counts(engine)
            progress.append((now - started, counts))
            done = sum(counts.get(status, 0) for status in TERMINAL)
            if done != last_done:
                last_done, last_change = done, now
            if now - last_print >= 15:
                last_print = now
                sent = "uploading" if stats is None else "uploaded"
                print(f"    {now - started:6.0f} s  {sent}; samples {counts}")
            if stats is not None and done >= sum(counts.values()):
                break
            if now - last_change > args.stall_timeout:
                print(f"    no progress for {args.stall_timeout:.0f} s; giving up: {counts}")
                result["stalled"] = counts
                break
            if any(not process.alive() for process in processes):
                dead = [p.name for p in processes if not p.alive()]
                raise RuntimeError(f"{dead} exited during the run")
        end_to_end = time.perf_counter() - started
        if stats is None:
            stats = await upload_task
            upload_seconds = time.perf_counter() - started
        assert upload_seconds is not None
        async with engine.connect() as connection:
            failure_codes = {
                code or "none": int(count)
                for code, count in await connection.execute(
                    text(
                        "SELECT error_code, count(*) FROM samples WHERE status = 'failed' "
                        "GROUP BY 1 ORDER BY 2 DESC"
                    )
                )
            }
            last_stored = await connection.scalar(text("SELECT max(finished_at) FROM jobs"))
            jobs = (
                await connection.execute(
                    text(
                        "SELECT extract(epoch FROM started_at - created_at), "
                        "extract(epoch FROM finished_at - started_at), attempts, status "
                        "FROM jobs"
                    )
                )
            ).all()
        waits = [float(row[0]) * 1000 for row in jobs if row[0] is not None]
        runs = [float(row[1]) * 1000 for row in jobs if row[1] is not None]
        counts = progress[-1][1] if progress else {}
        result.update(
            {
                "files": len(files),
                "mb": stats.bytes_sent / 2**20,
                "upload_seconds": upload_seconds,
                "upload_files_per_s": stats.files_sent / upload_seconds,
                "upload_mb_per_s": stats.bytes_sent / 2**20 / upload_seconds,
                "upload_request_ms": percentiles(stats.request_ms),
                "created": stats.created,
                "duplicates": stats.duplicates,
                "rejected": stats.rejected,
                "http_errors": stats.http_errors,
                "first_http_error": stats.first_error,
                "end_to_end_seconds": end_to_end,
                "end_to_end_files_per_s": len(files) / end_to_end,
                "last_stored_seconds": (last_stored - wall_start).total_seconds()
                if last_stored
                else None,
                "status_counts": counts,
                "failure_codes": failure_codes,
                "job_queue_wait_ms": percentiles(waits),
                "job_run_ms": percentiles(runs),
                "jobs": len(jobs),
                "jobs_retried": sum(1 for row in jobs if (row[2] or 0) > 1),
                "jobs_by_status": _count(row[3] for row in jobs),
            }
        )
        result["api_totals"] = await _api_totals(base_url, token)
    finally:
        await engine.dispose()
    return result


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


async def _api_totals(base_url: str, token: str) -> dict[str, int | str]:
    """The list endpoint's totals per status; past its counting cap a total is a lower
    bound, shown as ``"1001+"``."""
    headers = {"Authorization": f"Bearer {token}"}
    totals: dict[str, int | str] = {}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60.0) as client:
        for status in ("ready", "failed", None):
            params: dict[str, Any] = {"page_size": 1}
            if status:
                params["status"] = status
            response = await client.get("/api/v1/audio", params=params)
            if response.status_code != 200:
                totals[status or "all"] = -response.status_code
                continue
            page = response.json()
            bound = page.get("total_is_lower_bound", False)
            totals[status or "all"] = f"{page['total']}+" if bound else int(page["total"])
    return totals


def clean_redis(redis_url: str, prefix: str, queue: str) -> int:
    """Delete this run's keys: its prefix, its queue lists, its unacked messages."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    removed = 0
    try:
        for pattern in (f"{prefix}:*", f"{queue}*", f"_kombu.binding.{queue}"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                removed += int(client.delete(*keys))
        for tag, payload in client.hscan_iter("unacked"):
            try:
                message = json.loads(payload)
                routing_key = message[0]["properties"]["delivery_info"]["routing_key"]
            except (ValueError, KeyError, IndexError, TypeError):
                continue
            if routing_key == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
                removed += 1
    finally:
        client.close()
    return removed


def run_backend(
    backend: str, corpus: Path, files: list[Path], args: argparse.Namespace
) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:12]
    prefix, queue = f"samplemind-bench-{run_id}", f"samplemind-bench-{run_id}"
    processes: list[Process] = []
    result: dict[str, Any] = {"backend": backend}
    with (
        bench_database() as database,
        tempfile.TemporaryDirectory(prefix="samplemind-bench-ingest-") as work_dir,
    ):
        work = Path(work_dir)
        settings = {"database_url": database.url, "data_dir": str(work / "data")}
        if backend == "celery":
            settings |= {"redis_url": args.redis_url, "redis_prefix": prefix,
                         "celery_queue": queue}  # fmt: skip
        env = bench_env(**settings)
        try:
            server, base_url = start_serve(env, work / "serve.log")
            processes.append(server)
            if backend == "celery":
                processes.append(
                    start_worker(env, work / "worker.log", concurrency=args.worker_concurrency)
                )
            user = register_user(base_url)
            result |= asyncio.run(
                ingest(base_url, user.token, database.url, corpus, files, args, processes)
            )
        except Exception as exc:  # reported with the logs' tracebacks; the next backend runs
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            for process in reversed(processes):
                process.stop()
            result["tracebacks"] = {p.name: p.tracebacks() for p in processes if p.tracebacks()}
            result["log_warnings"] = {
                p.name: p.notable_lines() for p in processes if p.notable_lines()
            }
            if backend == "celery":
                result["redis_keys_removed"] = clean_redis(args.redis_url, prefix, queue)
    return result


def print_result(result: dict[str, Any]) -> None:
    print(f"\n== {result['backend']}")
    if "error" in result:
        print(f"  ERROR: {result['error']}")
    if "upload_seconds" not in result:
        _print_tracebacks(result)
        for name, lines in (result.get("log_warnings") or {}).items():
            print(f"  warnings/errors in the {name} log:")
            for line in lines:
                print(f"    {line}")
        return
    request = result["upload_request_ms"]
    print(
        f"  uploaded {result['files']} files ({result['mb']:.1f} MB) in "
        f"{result['upload_seconds']:.1f} s: {result['upload_files_per_s']:.1f} files/s, "
        f"{result['upload_mb_per_s']:.2f} MB/s; request p50 {request['p50']:.0f} ms, "
        f"p95 {request['p95']:.0f} ms"
    )
    print(
        f"  created {result['created']}, duplicates {result['duplicates']}, "
        f"rejected {result['rejected'] or 0}, HTTP errors {result['http_errors'] or 0}"
    )
    if result["first_http_error"]:
        print(f"  first HTTP error: {result['first_http_error']}")
    last = result["last_stored_seconds"]
    print(
        f"  end to end {result['end_to_end_seconds']:.1f} s: "
        f"{result['end_to_end_files_per_s']:.2f} files/s; last analysis stored at "
        f"{last:.1f} s"
        if last is not None
        else "  no analysis stored"
    )
    print(f"  samples by status {result['status_counts']}; failure codes {result['failure_codes']}")
    print(f"  API totals {result['api_totals']}")
    wait, run = result["job_queue_wait_ms"], result["job_run_ms"]
    print(
        f"  jobs {result['jobs']} {result['jobs_by_status']}, retried {result['jobs_retried']}; "
        f"run p50 {run['p50']:.0f} ms p95 {run['p95']:.0f} ms; "
        f"queue wait p50 {wait['p50'] / 1000:.1f} s max {wait.get('max', 0) / 1000:.1f} s"
    )
    if result.get("stalled"):
        print(f"  STALLED with {result['stalled']}")
    _print_tracebacks(result)
    for name, lines in (result.get("log_warnings") or {}).items():
        print(f"  warnings/errors in the {name} log:")
        for line in lines:
            print(f"    {line}")


def _print_tracebacks(result: dict[str, Any]) -> None:
    for name, blocks in (result.get("tracebacks") or {}).items():
        print(f"  tracebacks in the {name} log:")
        for block in blocks:
            print("    " + block.replace("\n", "\n    "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", nargs="+", choices=("local", "celery"),
                        default=["local", "celery"])  # fmt: skip
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, help="upload a seeded random subset of N files")
    parser.add_argument("--batch", type=int, default=25, help="files per upload request")
    parser.add_argument("--concurrency", type=int, default=3, help="upload requests in flight")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between progress polls")
    parser.add_argument("--stall-timeout", type=float, default=180.0,
                        help="give up after this long without a sample finishing")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    files = corpus_files(args.corpus, args.limit, seed=args.seed)
    size = sum(path.stat().st_size for path in files) / 2**20
    print(f"machine: {machine_summary()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"corpus: {len(files)} files, {size:.1f} MB from {args.corpus}")
    results: list[dict[str, Any]] = []
    for backend in args.backend:
        print(f"\n-- {backend}: uploading ...")
        results.append(run_backend(backend, args.corpus, files, args))
        print_result(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
