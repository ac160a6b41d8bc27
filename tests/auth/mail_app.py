"""The app wired to a real SMTP server (aiosmtpd), with a way to wait for its mails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from samplemind.app import create_app
from tests.auth.smtp import Inbox, smtp_server
from tests.conftest import make_settings, running_client

PUBLIC_URL = "https://samples.example.com"
SENDER = "SampleMind <noreply@samples.example.com>"


@dataclass
class MailApp:
    client: httpx.AsyncClient
    app: FastAPI
    inbox: Inbox
    database_url: str

    async def settle(self) -> None:
        """Wait for the mails (and reset look-ups) started by earlier requests."""
        await self.app.state.background.drain()

    async def sql(self, statement: str) -> None:
        engine = create_async_engine(self.database_url)
        async with engine.begin() as connection:
            await connection.execute(text(statement))
        await engine.dispose()


@asynccontextmanager
async def mail_app(
    database_url: str, tmp_path: Path, *, smtp_port: int | None = None, **overrides: object
) -> AsyncIterator[MailApp]:
    """``smtp_port`` points the app at another server than the capturing one."""
    with smtp_server() as (inbox, port):
        values: dict[str, object] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port or port,
            "smtp_security": "none",
            "public_url": PUBLIC_URL,
            "mail_from": SENDER,
            "mail_rate_limit_per_hour": 0,
            "mail_send_attempts": 1,  # tests of retries ask for more
            **overrides,
        }
        app = create_app(make_settings(database_url, tmp_path, **values))
        async with running_client(app) as client:
            yield MailApp(client, app, inbox, database_url)
