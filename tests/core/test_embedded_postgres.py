"""The embedded server runs with SampleMind's settings, written into its data folder."""

from __future__ import annotations

from samplemind.core.embedded_postgres import (
    MAX_SHARED_BUFFERS_MB,
    SETTINGS_FILE,
    EmbeddedPostgres,
    server_settings,
)


def test_shared_buffers_are_raised_from_the_default_128mb() -> None:
    value = server_settings()["shared_buffers"]
    assert value.endswith("MB")
    assert 128 <= int(value.removesuffix("MB")) <= MAX_SHARED_BUFFERS_MB


def test_the_server_runs_with_the_settings_and_writes_them_once(
    postgres: EmbeddedPostgres,
) -> None:
    shown = postgres.psql("SHOW shared_buffers;")
    assert server_settings()["shared_buffers"] in shown
    conf = (postgres.pgdata / "postgresql.conf").read_text()
    assert conf.count(f"include_if_exists = '{SETTINGS_FILE}'") == 1
    postgres._write_settings()  # as on every later start
    conf = (postgres.pgdata / "postgresql.conf").read_text()
    assert conf.count(f"include_if_exists = '{SETTINGS_FILE}'") == 1
    assert "shared_buffers" in (postgres.pgdata / SETTINGS_FILE).read_text()
