from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from samplemind.core.embedded_postgres import EmbeddedPostgres


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        names = {row[0] for row in rows}
    await engine.dispose()
    return names


def test_migrate_uses_the_configured_database_url(postgres: EmbeddedPostgres) -> None:
    postgres.create_database("cli_migrate_target")
    url = postgres.url("cli_migrate_target").replace("postgresql+asyncpg://", "postgresql://")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLEMIND_")}
    env["SAMPLEMIND_DATABASE_URL"] = url
    result = subprocess.run(
        [sys.executable, "-m", "samplemind.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    tables = asyncio.run(_tables(postgres.url("cli_migrate_target")))
    assert {"users", "auth_sessions", "revoked_tokens", "alembic_version"} <= tables


def test_cli_lists_its_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "samplemind.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for command in ("serve", "migrate", "analyze"):
        assert command in result.stdout
