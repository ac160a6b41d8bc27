"""Secrets that travel in URLs (a mailed token, a WebSocket's JWT, an OAuth callback's
code and state) are masked in the logs of a real uvicorn server."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import websockets

from samplemind.app import create_app
from samplemind.core.logs import SERVER_LOGGERS, redact_query_secrets
from tests.conftest import live_server, make_settings

SECRETS = ("MAILEDTOKEN123", "WEBSOCKETJWT456", "OAUTHCODE789", "OAUTHSTATE012")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_the_server_log_masks_secret_query_values(database_url: str, tmp_path: Path) -> None:
    collect = _Collect()
    app = create_app(make_settings(database_url, tmp_path))
    async with live_server(app, log_level="info") as base:
        for name in SERVER_LOGGERS:  # after uvicorn's logging set-up, which replaces handlers
            logging.getLogger(name).addHandler(collect)
        try:
            async with httpx.AsyncClient(base_url=base) as client:
                await client.get("/reset-password", params={"token": SECRETS[0], "x": "1"})
                await client.get(
                    "/api/v1/auth/oauth/google/callback",
                    params={"code": SECRETS[2], "state": SECRETS[3]},
                )
            with pytest.raises(websockets.exceptions.WebSocketException):
                ws_url = base.replace("http", "ws") + f"/api/v1/ws?token={SECRETS[1]}"
                async with websockets.connect(ws_url) as socket:
                    await socket.recv()
        finally:
            for name in SERVER_LOGGERS:
                logging.getLogger(name).removeHandler(collect)
    logged = "\n".join(collect.lines)
    assert "/reset-password?token=[redacted]&x=1" in logged
    assert "/api/v1/ws?token=[redacted]" in logged
    assert "code=[redacted]&state=[redacted]" in logged
    assert not [secret for secret in SECRETS if secret in logged]


def test_only_the_secret_parameters_are_masked() -> None:
    assert redact_query_secrets("GET /a?token=abc&page=2&code=x%20y HTTP/1.1") == (
        "GET /a?token=[redacted]&page=2&code=[redacted] HTTP/1.1"
    )
    assert redact_query_secrets("/search?q=token=abc&xtoken=1") == "/search?q=token=abc&xtoken=1"
