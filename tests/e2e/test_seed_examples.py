"""The seed document's Quick Test (curl) and TypeScript example, as written, against the
real ``samplemind serve`` process on port 8000 with its embedded PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SEED = REPO.parent / "shared" / "seed" / "backend-phase7-progress-report.md"
NODE_DIR = Path(__file__).with_name("node")
SERVER = "http://localhost:8000"

# The seed's Quick Test steps 2-4, verbatim.
REGISTER = """curl -X POST http://localhost:8000/api/v1/auth/register \\
  -H "Content-Type: application/json" \\
  -d '{"email":"test@samplemind.ai","password":"SecurePass123!"}'"""
LOGIN = """curl -X POST http://localhost:8000/api/v1/auth/login \\
  -H "Content-Type: application/json" \\
  -d '{"email":"test@samplemind.ai","password":"SecurePass123!"}'"""
PROFILE = """curl -X GET http://localhost:8000/api/v1/auth/me \\
  -H "Authorization: Bearer YOUR_TOKEN_HERE\""""


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_healthy(process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}")
        try:
            if httpx.get(f"{SERVER}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become healthy in time")


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not _port_is_free(8000):
            pytest.fail("port 8000 is taken; the seed's examples need it (stop `make run`)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLEMIND_")}
        env["SAMPLEMIND_DATA_DIR"] = str(self.data_dir)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "samplemind.cli", "serve", "--port", "8000"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_healthy(self.process)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.process = None
        return code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("e2e") / "data")
    running.start()
    yield running
    if running.process is not None:
        running.stop()


def _curl(command: str) -> dict[str, object]:
    result = subprocess.run(
        ["bash", "-c", command + " --silent --show-error"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return dict(json.loads(result.stdout))


def test_seed_examples_match_the_seed_document() -> None:
    if not SEED.exists():
        pytest.skip(f"{SEED} not present")
    seed = SEED.read_text()
    for command in (REGISTER, LOGIN, PROFILE):
        assert command in seed
    snippet = (NODE_DIR / "seed_example.mts").read_text()
    seed_ts = re.search(r"```typescript\n(.*?)```", seed, re.S)
    assert seed_ts is not None
    between = snippet.split("// --- seed example start ---\n")[1].split("// --- seed example end")[
        0
    ]
    assert between.strip() == seed_ts.group(1).strip()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_seed_quick_test_with_curl(server: Server) -> None:
    user = _curl(REGISTER)
    assert user["email"] == "test@samplemind.ai"
    tokens = _curl(LOGIN)
    assert tokens["token_type"] == "bearer"
    profile = _curl(PROFILE.replace("YOUR_TOKEN_HERE", str(tokens["access_token"])))
    assert profile["id"] == user["id"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_seed_typescript_example_under_node(server: Server) -> None:
    if not (NODE_DIR / "node_modules" / ".bin" / "tsc").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    subprocess.run(["node_modules/.bin/tsc", "-p", "."], cwd=NODE_DIR, check=True, timeout=120)
    httpx.post(
        f"{SERVER}/api/v1/auth/register",
        json={"email": "node@samplemind.ai", "password": "SecurePass123!"},
    )
    result = subprocess.run(
        ["node", "dist/seed_example.mjs"],
        cwd=NODE_DIR,
        env={**os.environ, "SEED_EMAIL": "node@samplemind.ai", "SEED_PASSWORD": "SecurePass123!"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["profile"]["email"] == "node@samplemind.ai"
    assert output["stored"] is True


def test_users_survive_a_server_restart(server: Server) -> None:
    httpx.post(
        f"{SERVER}/api/v1/auth/register",
        json={"email": "restart@samplemind.ai", "password": "SecurePass123!"},
    )
    before = httpx.post(
        f"{SERVER}/api/v1/auth/login",
        json={"email": "restart@samplemind.ai", "password": "SecurePass123!"},
    ).json()
    assert server.stop() == 0
    # The embedded PostgreSQL stopped with the server.
    assert not (server.data_dir / "postgres" / "postmaster.pid").exists()
    server.start()
    response = httpx.get(
        f"{SERVER}/api/v1/auth/me",
        headers={"Authorization": f"Bearer {before['access_token']}"},
    )
    assert response.status_code == 200
    assert response.json()["email"] == "restart@samplemind.ai"
