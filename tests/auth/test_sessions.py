from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from samplemind.app import create_app
from samplemind.auth.models import RevokedToken
from samplemind.core.config import Settings
from tests.auth.helpers import PASSWORD, assert_error, bearer, login, me, refresh, register
from tests.conftest import REDIS_URL, make_settings, running_client


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient) -> None:
    await register(client)
    first = await login(client)
    response = await refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await me(client, second["access_token"])).status_code == 200
    # The next rotation works from the new refresh token.
    assert (await refresh(client, second["refresh_token"])).status_code == 200


async def test_reusing_a_rotated_refresh_token_ends_the_session(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    first = await login(client)
    second = (await refresh(client, first["refresh_token"])).json()
    assert_error(await refresh(client, first["refresh_token"]), 401, "refresh_token_reused")
    # The whole login session is gone: the legitimate new tokens stop working too.
    assert_error(await refresh(client, second["refresh_token"]), 401, "session_revoked")
    assert_error(await me(client, second["access_token"]), 401, "session_revoked")


async def test_reuse_ends_only_that_session(client: httpx.AsyncClient) -> None:
    await register(client)
    laptop = await login(client)
    phone = await login(client)
    await refresh(client, laptop["refresh_token"])
    await refresh(client, laptop["refresh_token"])
    assert (await me(client, phone["access_token"])).status_code == 200


async def test_logout_revokes_access_and_refresh_at_once(client: httpx.AsyncClient) -> None:
    await register(client)
    tokens = await login(client)
    other = await login(client)
    response = await client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert_error(await me(client, tokens["access_token"]), 401, "token_revoked")
    assert_error(await refresh(client, tokens["refresh_token"]), 401, "session_revoked")
    assert (await me(client, other["access_token"])).status_code == 200


async def test_logout_all_ends_every_session(client: httpx.AsyncClient) -> None:
    await register(client)
    sessions = [await login(client) for _ in range(3)]
    listed = await client.get("/api/v1/auth/sessions", headers=bearer(sessions[0]["access_token"]))
    assert listed.status_code == 200
    assert len(listed.json()) == 3
    assert sum(row["current"] for row in listed.json()) == 1
    response = await client.post(
        "/api/v1/auth/logout-all", headers=bearer(sessions[0]["access_token"])
    )
    assert response.status_code == 200
    for tokens in sessions:
        assert (await me(client, tokens["access_token"])).status_code == 401
        assert (await refresh(client, tokens["refresh_token"])).status_code == 401


async def test_logout_without_redis_stores_the_revocation_in_postgres(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client)
    tokens = await login(client)
    await client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert settings.database_url
    engine = create_async_engine(settings.database_url)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(RevokedToken))).all()
    await engine.dispose()
    assert len(rows) == 1


async def test_logout_with_redis_keeps_the_revoked_id_for_its_remaining_life(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, redis_url=REDIS_URL)
    async with running_client(create_app(settings)) as client:
        await register(client)
        tokens = await login(client)
        await client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
        assert_error(await me(client, tokens["access_token"]), 401, "token_revoked")
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(f"{settings.redis_prefix}:revoked-jti:*")]
        assert len(keys) == 1
        ttl = await redis.ttl(keys[0])
        assert 29 * 60 < ttl <= 30 * 60 + 1
        await redis.delete(*keys)
        await redis.aclose()


@pytest.mark.parametrize("use_redis", [False, True])
async def test_login_is_rate_limited(database_url: str, tmp_path: Path, use_redis: bool) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        auth_rate_limit_per_minute=3,
        redis_url=REDIS_URL if use_redis else None,
    )
    async with running_client(create_app(settings)) as client:
        statuses = []
        for _ in range(4):
            response = await client.post(
                "/api/v1/auth/login", json={"email": "x@example.com", "password": PASSWORD}
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429]
        assert_error(response, 429, "rate_limited")
        assert 0 < int(response.headers["retry-after"]) <= 60


async def test_users_and_tokens_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    # No secret configured: development generates one and keeps it in the data dir.
    settings = make_settings(database_url, tmp_path, secret_key=None)
    async with running_client(create_app(settings)) as client:
        await register(client)
        tokens = await login(client)
    secret_file = tmp_path / "data" / "secret_key"
    assert secret_file.exists()
    assert secret_file.stat().st_mode & 0o077 == 0

    restarted = make_settings(database_url, tmp_path, secret_key=None)
    async with running_client(create_app(restarted)) as client:
        assert (await me(client, tokens["access_token"])).status_code == 200
        assert (await refresh(client, tokens["refresh_token"])).status_code == 200
        await login(client)
