"""Helpers shared by ``bench/ingest.py`` and ``bench/search.py``.

A bench-owned embedded PostgreSQL in a temp dir (deleted afterwards), the real
``samplemind serve`` / ``samplemind worker`` as subprocesses in their own process
groups (ended by their own ids), a registered and logged-in user, and latency
percentiles.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "drums"
PASSWORD = "Bench-Passw0rd-Long!"  # noqa: S105 (a throwaway bench account)
SAMPLEMIND = (sys.executable, "-m", "samplemind.cli")
STARTUP_TIMEOUT_SECONDS = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max of latencies in milliseconds."""
    data = np.asarray(values_ms, dtype=float)
    if data.size == 0:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(data, [50, 95, 99])
    return {
        "n": int(data.size),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "mean": float(data.mean()),
        "max": float(data.max()),
    }


@dataclass
class BenchDatabase:
    """An embedded PostgreSQL owned by the benchmark, migrated to head."""

    root: Path
    url: str
    server: object

    def psql(self, command: str) -> str:
        return str(self.server.psql(command))  # type: ignore[attr-defined]


@contextmanager
def bench_database(
    prefix: str = "samplemind-bench-", *, keep: Path | None = None
) -> Iterator[BenchDatabase]:
    """A fresh embedded PostgreSQL in a temp dir; stopped and deleted on exit.

    With ``keep``, the server's data lives in that folder instead and survives the run
    (started again, and migrated to head, by the next run given the same folder).
    """
    from samplemind.core.embedded_postgres import EmbeddedPostgres
    from samplemind.core.migrate import migrate

    root = keep or Path(tempfile.mkdtemp(prefix=prefix))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the embedded server runs as another user when we are root
    server = EmbeddedPostgres(root, delete_on_stop=keep is None)
    try:
        url = server.start()
        migrate(url)
        yield BenchDatabase(root=root, url=url, server=server)
    finally:
        server.stop()
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def bench_env(**settings: str) -> dict[str, str]:
    """This environment without any SAMPLEMIND_* variable, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SAMPLEMIND_")}
    env.update(
        {
            "SAMPLEMIND_ENV": "development",
            "SAMPLEMIND_SECRET_KEY": secrets.token_urlsafe(48),
            "SAMPLEMIND_AUTH_RATE_LIMIT_PER_MINUTE": "0",
            "PYTHONPATH": os.pathsep.join(
                part for part in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if part
            ),
        }
    )
    env.update({f"SAMPLEMIND_{key.upper()}": value for key, value in settings.items()})
    return env


class Process:
    """A subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, args: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._handle = log.open("wb")
        self.popen = subprocess.Popen(
            list(args),
            env=dict(env),
            cwd=log.parent,  # no stray .env file is read
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the group (SIGINT first for a Celery warm shutdown), then SIGKILL."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        # children left behind in the group (pool workers) are ended too
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._handle.close()

    def notable_lines(self, limit: int = 5) -> list[str]:
        """Distinct WARNING/ERROR lines of the log (ids and numbers folded), with counts."""
        import re

        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        counts: dict[str, int] = {}
        first: dict[str, str] = {}
        for line in text.splitlines():
            if not any(level in line[:48] for level in ("WARNING", "ERROR", "CRITICAL")):
                continue
            folded = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", "#", line)[:240]
            counts[folded] = counts.get(folded, 0) + 1
            first.setdefault(folded, line[:400])
        ranked = sorted(counts, key=counts.get, reverse=True)[:limit]  # type: ignore[arg-type]
        return [f"{counts[key]}x {first[key]}" for key in ranked]

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def tracebacks(self, limit: int = 3) -> list[str]:
        """The tracebacks in this process's log (for the report)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        found: list[str] = []
        lines = text.splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("Traceback (most recent call last)"):
                continue
            block = [line]
            for follow in lines[index + 1 :]:
                block.append(follow)
                if follow.strip() and not follow.startswith(" "):
                    break  # the exception line ends the block
            found.append("\n".join(block))
        return found[:limit] + ([f"... {len(found) - limit} more"] if len(found) > limit else [])


def start_serve(
    env: Mapping[str, str], log: Path, *, port: int | None = None
) -> tuple[Process, str]:
    """``samplemind serve`` on a free port; returns the process and its base URL."""
    port = port or free_port()
    process = Process("serve", [*SAMPLEMIND, "serve", "--port", str(port)], env, log)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"serve exited early:\n{process.tail()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2.0).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    process.stop()
    raise RuntimeError(f"serve did not answer /health in time:\n{process.tail()}")


def start_worker(env: Mapping[str, str], log: Path, *, concurrency: int) -> Process:
    return Process("worker", [*SAMPLEMIND, "worker", "--concurrency", str(concurrency)], env, log)


@dataclass
class BenchUser:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def login_token(base_url: str, email: str) -> str:
    """A fresh access token (they expire after 30 minutes by default)."""
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        body = {"email": email, "password": PASSWORD}
        response = client.post("/api/v1/auth/login", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"login failed: {response.status_code} {response.text}")
        return str(response.json()["access_token"])


def register_user(base_url: str, email: str = "bench@example.com") -> BenchUser:
    """Register and log in through the API."""
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        body = {"email": email, "password": PASSWORD}
        registered = client.post("/api/v1/auth/register", json=body)
        if registered.status_code != 201:
            raise RuntimeError(f"register failed: {registered.status_code} {registered.text}")
    return BenchUser(
        id=str(registered.json()["id"]), email=email, token=login_token(base_url, email)
    )


def machine_summary() -> str:
    import platform

    cores = os.cpu_count()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}, load {load}"
