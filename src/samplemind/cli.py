"""``samplemind``: serve | migrate | worker | analyze | import | train-classifier."""

from __future__ import annotations

import importlib
import logging
import os
import signal
from types import FrameType
from typing import ClassVar

import click

from samplemind import __version__
from samplemind.core.config import get_settings
from samplemind.core.database_server import database_url_for
from samplemind.core.migrate import migrate as run_migrations


class LazyGroup(click.Group):
    """Imports heavy subcommands (the analysis engine) only when they are run."""

    lazy_commands: ClassVar[dict[str, str]] = {
        "analyze": "samplemind.analyze_command:analyze",
        "import": "samplemind.import_command:import_library",
        "train-classifier": "samplemind.train_command:train_classifier",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy_commands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="samplemind")
def cli() -> None:
    """SampleMind: analyse, search and organise audio samples."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Migrate the database and run the API server."""
    import uvicorn

    from samplemind.app import create_app

    settings = get_settings()
    mail_problem = settings.mail_problem()
    if mail_problem:
        raise click.ClickException(mail_problem)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into SystemExit so the
    # embedded PostgreSQL is stopped by database_url_for's cleanup.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with database_url_for(settings) as url:
            run_migrations(url)
            app = create_app(settings.model_copy(update={"database_url": url}))
            uvicorn.run(app, host=host, port=port, proxy_headers=False)
    except KeyboardInterrupt:
        pass


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


@cli.command()
@click.option(
    "--concurrency", type=click.IntRange(1, 256), default=None,
    help="Worker processes [default: number of cores].",
)  # fmt: skip
def worker(concurrency: int | None) -> None:
    """Run a Celery worker for analysis jobs (needs SAMPLEMIND_REDIS_URL)."""

    from samplemind.jobs.celery_app import run_worker

    settings = get_settings()
    if not settings.redis_url:
        raise click.UsageError("set SAMPLEMIND_REDIS_URL; without it `serve` runs jobs itself")
    with database_url_for(settings) as url:
        run_migrations(url)
        settings = settings.model_copy(update={"database_url": url})
        run_worker(settings, concurrency=concurrency or os.cpu_count() or 1)


@cli.command()
def migrate() -> None:
    """Apply all database migrations and exit."""
    with database_url_for(get_settings()) as url:
        run_migrations(url)
    click.echo("database is up to date")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
