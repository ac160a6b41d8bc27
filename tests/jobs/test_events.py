"""Job events over a real WebSocket connection, from any API process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from samplemind.app import create_app
from samplemind.core.config import Settings
from tests.conftest import REDIS_URL, live_server
from tests.samples.conftest import Account, corpus_file, library_settings, new_account

EVENT_TIMEOUT = 120.0


async def _next_event(ws: Any, *, skip: tuple[str, ...] = ("ping",)) -> dict[str, Any]:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))
        if event["type"] not in skip:
            return dict(event)


async def _events_until(ws: Any, final: str) -> list[dict[str, Any]]:
    events = []
    while not events or events[-1]["type"] != final:
        events.append(await _next_event(ws))
    return events


def _ws_url(base: str, token: str | None = None) -> str:
    url = base.replace("http://", "ws://") + "/api/v1/ws"
    return f"{url}?token={token}" if token else url


async def test_upload_events_reach_a_client_of_another_api_process(
    database_url: str, tmp_path: Path
) -> None:
    settings = library_settings(database_url, tmp_path)
    async with (
        live_server(create_app(settings)) as uploads_server,
        live_server(create_app(settings)) as events_server,
        httpx.AsyncClient(base_url=uploads_server) as client,
    ):
        alice = await new_account(client, "alice@example.com")
        bob = await new_account(client, "bob@example.com")
        async with (
            websockets.connect(_ws_url(events_server, alice.token)) as alice_ws,
            websockets.connect(_ws_url(events_server, bob.token)) as bob_ws,
        ):
            assert (await _next_event(alice_ws))["type"] == "ready"
            assert (await _next_event(bob_ws))["type"] == "ready"
            [item] = await alice.upload_ok(corpus_file("bd"))
            events = await _events_until(alice_ws, "sample.analyzed")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(_next_event(bob_ws), 1.0)
    sample_id = item["sample"]["id"]
    types = [event["type"] for event in events]
    assert types[:2] == ["upload.received", "job.queued"]
    progress = [event for event in events if event["type"] == "job.progress"]
    assert [event["status"] for event in progress] == ["running", "done"]
    assert progress[-1]["progress"] == 100
    assert all(event.get("sample_id") == sample_id for event in events)


async def test_first_message_authentication_and_ping(database_url: str, tmp_path: Path) -> None:
    settings = library_settings(database_url, tmp_path)
    async with live_server(create_app(settings)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            alice = await new_account(client, "alice@example.com")
        async with websockets.connect(_ws_url(base)) as ws:
            await ws.send(json.dumps({"type": "auth", "token": alice.token}))
            assert (await _next_event(ws))["type"] == "ready"
            await ws.send(json.dumps({"type": "ping"}))
            assert (await _next_event(ws))["type"] == "pong"


@pytest.mark.parametrize("token", ["not-a-token", None])
async def test_bad_token_closes_with_4401(
    database_url: str, tmp_path: Path, token: str | None
) -> None:
    settings = library_settings(database_url, tmp_path)
    async with (
        live_server(create_app(settings)) as base,
        websockets.connect(_ws_url(base, token)) as ws,
    ):
        if token is None:
            await ws.send(json.dumps({"type": "auth", "token": "forged.jwt.value"}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_heartbeat_is_sent(database_url: str, tmp_path: Path) -> None:
    settings = library_settings(database_url, tmp_path, ws_heartbeat_seconds=0.2)
    async with live_server(create_app(settings)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            alice = await new_account(client, "alice@example.com")
        async with websockets.connect(_ws_url(base, alice.token)) as ws:
            assert (await _next_event(ws))["type"] == "ready"
            assert (await _next_event(ws, skip=()))["type"] == "ping"


async def test_events_through_redis(database_url: str, tmp_path: Path) -> None:
    settings = library_settings(database_url, tmp_path, redis_url=REDIS_URL)
    async with (
        live_server(create_app(settings)) as one,
        live_server(create_app(settings)) as two,
        httpx.AsyncClient(base_url=one) as client,
    ):
        alice = await new_account(client, "alice@example.com")
        async with websockets.connect(_ws_url(two, alice.token)) as ws:
            assert (await _next_event(ws))["type"] == "ready"
            await alice.upload_ok(corpus_file("sd"))
            assert (await _next_event(ws))["type"] == "upload.received"
            assert (await _next_event(ws))["type"] == "job.queued"


async def _listener_pids(database_url: str) -> set[int]:
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
        )
        return {row["pid"] for row in rows}
    finally:
        await connection.close()


@asynccontextmanager
async def _alice_listening(settings: Settings) -> AsyncIterator[tuple[Account, Any]]:
    """A live server, a new account and its WebSocket, past the ``ready`` event."""
    async with (
        live_server(create_app(settings)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        alice = await new_account(client, "alice@example.com")
        async with websockets.connect(_ws_url(base, alice.token)) as ws:
            assert (await _next_event(ws))["type"] == "ready"
            yield alice, ws


async def test_events_resume_after_the_listen_connection_is_lost(
    database_url: str, tmp_path: Path
) -> None:
    async with _alice_listening(library_settings(database_url, tmp_path)) as (alice, ws):
        [lost] = await _listener_pids(database_url)
        dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        admin = await asyncpg.connect(dsn)
        await admin.execute("SELECT pg_terminate_backend($1)", lost)
        await admin.close()
        for _ in range(100):  # the hub listens again on a new connection
            now = await _listener_pids(database_url)
            if now and lost not in now:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the event connection was not re-opened")
        assert (await _next_event(ws))["type"] == "events.resumed"
        await alice.upload_ok(corpus_file("cb"))
        assert (await _next_event(ws))["type"] == "upload.received"


async def _pattern_subscribers(redis: Redis) -> set[str]:
    return {client["id"] for client in await redis.client_list() if client.get("psub") != "0"}


async def test_redis_events_resume_after_the_subscription_is_lost(
    database_url: str, tmp_path: Path
) -> None:
    settings = library_settings(database_url, tmp_path, redis_url=REDIS_URL)
    admin = Redis.from_url(REDIS_URL)
    others = await _pattern_subscribers(admin)
    try:
        async with _alice_listening(settings) as (alice, ws):
            [lost] = await _pattern_subscribers(admin) - others
            await admin.client_kill_filter(_id=lost)
            assert (await _next_event(ws))["type"] == "events.resumed"
            [resubscribed] = await _pattern_subscribers(admin) - others
            assert resubscribed != lost
            await alice.upload_ok(corpus_file("cb"))
            assert (await _next_event(ws))["type"] == "upload.received"
    finally:
        await admin.aclose()
