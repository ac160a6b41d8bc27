"""The migrations build exactly the schema the models describe, and the newest
revisions can be undone and redone."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import samplemind.models  # noqa: F401  (registers every table)
from samplemind.core.db import Base
from samplemind.core.embedded_postgres import EmbeddedPostgres
from samplemind.core.migrate import alembic_config, migrate_async

NEWER_TABLES = {
    "auth_tokens", "recovery_codes", "audit_events", "oauth_logins", "oauth_identities",
    "sample_search",
}  # fmt: skip


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def _diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_schema_diff)
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    # database_url is cloned from the template migrated to head.
    assert await _diff(database_url) == []


async def test_the_newest_revisions_downgrade_and_upgrade(
    postgres: EmbeddedPostgres,
) -> None:
    postgres.create_database("migration_roundtrip")
    url = postgres.url("migration_roundtrip")
    await migrate_async(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0003"))
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: sync.dialect.get_table_names(sync))
        assert not NEWER_TABLES & set(tables)
    finally:
        await engine.dispose()
    await migrate_async(url)
    assert await _diff(url) == []
