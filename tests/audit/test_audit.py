"""The audit trail: what is recorded, with which client, visible to whom."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import Any

import httpx
import numpy as np
import soundfile as sf
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import create_async_engine

from samplemind.audit.models import AuditEvent
from samplemind.auth import totp
from samplemind.auth.models import User
from samplemind.core.config import Settings
from tests.auth.helpers import PASSWORD, assert_error, login, register

AGENT = {"User-Agent": "audit-test/1.0"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **AGENT}


async def _events(client: httpx.AsyncClient, token: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/audit/events", params=params, headers=_bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _names(client: httpx.AsyncClient, token: str) -> list[str]:
    return [item["event"] for item in (await _events(client, token))["items"]]


async def _until(client: httpx.AsyncClient, token: str, event: str) -> list[str]:
    """The events once ``event`` is among them (written after a response)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        names = await _names(client, token)
        if event in names:
            return names
        await asyncio.sleep(0.05)
    raise AssertionError(f"{event} never recorded: {names}")


async def _wrong_login(client: httpx.AsyncClient, email: str = "test@samplemind.ai") -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "wrong"}, headers=AGENT
    )
    assert_error(response, 401, "invalid_credentials")


async def test_sign_ins_failures_and_logouts_are_recorded_newest_first(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    first = await login(client)
    await _wrong_login(client)
    names = await _until(client, first["access_token"], "login.failed")
    assert names == ["login.failed", "login.succeeded", "user.registered"]

    second = await login(client)
    reused = first["refresh_token"]
    await client.post("/api/v1/auth/refresh", json={"refresh_token": reused})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": reused})
    await client.post("/api/v1/auth/logout", headers=_bearer(second["access_token"]))
    third = await login(client)
    page = await _events(client, third["access_token"])
    assert [item["event"] for item in page["items"][:4]] == [
        "login.succeeded",
        "session.logout",
        "session.refresh_reused",
        "login.succeeded",
    ]
    assert page["total"] == 7 and page["pages"] == 1
    logout = page["items"][1]
    assert logout["ip_address"] == "127.0.0.1"
    assert logout["user_agent"] == "audit-test/1.0"
    assert page["items"][2]["details"]["session_id"]


async def test_an_unknown_email_leaves_no_row(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    await _wrong_login(client, "nobody@samplemind.ai")
    await _wrong_login(client)  # written after the unknown one, by the same path
    await _until(client, token, "login.failed")
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(AuditEvent.user_id, AuditEvent.event))).all()
    finally:
        await engine.dispose()
    assert all(user_id is not None for user_id, _ in rows)
    assert sum(event == "login.failed" for _, event in rows) == 1


async def test_each_user_sees_only_their_own_events(client: httpx.AsyncClient) -> None:
    await register(client, "alice@samplemind.ai")
    await register(client, "bob@samplemind.ai")
    alice = (await login(client, "alice@samplemind.ai"))["access_token"]
    bob = (await login(client, "bob@samplemind.ai"))["access_token"]
    await _wrong_login(client, "bob@samplemind.ai")
    await _until(client, bob, "login.failed")
    assert await _names(client, alice) == ["login.succeeded", "user.registered"]
    filtered = await _events(client, bob, event="login.failed")
    assert [item["event"] for item in filtered["items"]] == ["login.failed"]
    assert filtered["total"] == 1
    bad = await client.get(
        "/api/v1/audit/events", params={"event": "drop table"}, headers=_bearer(bob)
    )
    assert_error(bad, 422)
    assert_error(await client.get("/api/v1/audit/events"), 401)


async def test_paging(client: httpx.AsyncClient) -> None:
    await register(client)
    tokens = [await login(client) for _ in range(4)]
    token = tokens[-1]["access_token"]
    first = await _events(client, token, page=1, page_size=2)
    second = await _events(client, token, page=3, page_size=2)
    assert (first["total"], first["pages"], len(first["items"])) == (5, 3, 2)
    assert [item["event"] for item in second["items"]] == ["user.registered"]


async def test_two_factor_changes_and_failures_are_recorded(client: httpx.AsyncClient) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    setup = await client.post(
        "/api/v1/auth/2fa/setup", json={"password": PASSWORD}, headers=_bearer(token)
    )
    secret = base64.b32decode(setup.json()["secret"] + "=" * (-len(setup.json()["secret"]) % 8))
    code = totp.hotp(secret, totp.time_step(time.time()))
    wrong = await client.post(
        "/api/v1/auth/2fa/setup", json={"password": "guess"}, headers=_bearer(token)
    )
    assert_error(wrong, 400, "invalid_password")
    enabled = await client.post(
        "/api/v1/auth/2fa/enable", json={"code": code}, headers=_bearer(token)
    )
    recovery = enabled.json()["recovery_codes"]
    body = {"email": "test@samplemind.ai", "password": PASSWORD}
    await client.post("/api/v1/auth/login", json={**body, "otp_code": "x"})
    await client.post("/api/v1/auth/login", json={**body, "otp_code": recovery[0]})
    names = await _names(client, token)
    assert names[:6] == [
        "login.succeeded",
        "two_factor.recovery_code_used",
        "two_factor.failed",
        "two_factor.enabled",
        "password.confirmation_failed",
        "two_factor.setup_started",
    ]
    latest = (await _events(client, token))["items"][0]
    assert latest["details"]["second_factor"] == "recovery_code"


async def test_deleting_a_sample_is_recorded(client: httpx.AsyncClient) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    buffer = io.BytesIO()
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(4410) / 44100)
    sf.write(buffer, tone, 44100, format="WAV", subtype="PCM_16")
    upload = await client.post(
        "/api/v1/audio/upload",
        files=[("file", ("Kick 1.wav", buffer.getvalue(), "audio/wav"))],
        headers=_bearer(token),
    )
    assert upload.status_code == 201, upload.text
    sample_id = upload.json()["items"][0]["sample"]["id"]
    deleted = await client.delete(f"/api/v1/audio/{sample_id}", headers=_bearer(token))
    assert deleted.status_code == 204
    event = (await _events(client, token, event="sample.deleted"))["items"][0]
    assert event["details"] == {"sample_id": sample_id, "filename": "Kick 1.wav"}


async def test_events_outlive_their_user(client: httpx.AsyncClient, settings: Settings) -> None:
    await register(client)
    await login(client)
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(User))
        async with engine.connect() as connection:
            rows = (await connection.execute(select(AuditEvent.user_id))).scalars().all()
    finally:
        await engine.dispose()
    assert len(rows) == 2 and set(rows) == {None}
