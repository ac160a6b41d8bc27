"""Which PostgreSQL to use: the configured one, or the embedded one in the data dir."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from samplemind.core.config import Settings
from samplemind.core.embedded_postgres import EmbeddedPostgres


@contextmanager
def database_url_for(settings: Settings) -> Iterator[str]:
    """Yield a database URL; an embedded server is started here and stopped on exit."""
    if settings.database_url:
        yield settings.database_url
        return
    server = EmbeddedPostgres(settings.data_dir)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
