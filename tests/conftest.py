"""Shared fixtures: a real embedded PostgreSQL (one per session, a fresh database per
test cloned from a migrated template) and the real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from samplemind.app import create_app
from samplemind.core.config import Settings
from samplemind.core.embedded_postgres import EmbeddedPostgres
from samplemind.core.migrate import migrate
from tests.seaweed import SeaweedS3

TEMPLATE_DATABASE = "samplemind_template"
REDIS_URL = os.environ.get("SAMPLEMIND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_SECRET = "test-secret-k3J9x2Qm7Lp4Vz8Rt6Yb1Nw5Hc0Fd3Gs"
_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), delete_on_stop=True)
    server.start()
    server.create_database(TEMPLATE_DATABASE)
    migrate(server.url(TEMPLATE_DATABASE))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres: EmbeddedPostgres) -> str:
    name = f"test_{os.getpid()}_{next(_database_numbers)}"
    postgres.create_database(name, template=TEMPLATE_DATABASE)
    return postgres.url(name)


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "development",
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "auth_rate_limit_per_minute": 0,
        "redis_url": None,
        "redis_prefix": f"samplemind-test-{uuid.uuid4().hex}",
        "celery_queue": f"samplemind-test-{uuid.uuid4().hex}",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@asynccontextmanager
async def running_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(create_app(settings)) as running:
        yield running


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def live_server(app: FastAPI, *, log_level: str = "warning") -> AsyncIterator[str]:
    """The app served by a real uvicorn on a free port; yields its base URL."""
    import asyncio

    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
