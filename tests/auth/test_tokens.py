from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from samplemind.auth.tokens import TokenType, decode_token, encode_token
from tests.auth.helpers import assert_error, login, me, refresh, register
from tests.conftest import TEST_SECRET


def _claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def test_tokens_carry_the_required_claims(client: httpx.AsyncClient) -> None:
    await register(client)
    tokens = await login(client)
    access, refresh_claims = _claims(tokens["access_token"]), _claims(tokens["refresh_token"])
    for claims in (access, refresh_claims):
        assert {"sub", "type", "jti", "iat", "exp"} <= set(claims)
    assert access["type"] == "access" and refresh_claims["type"] == "refresh"
    assert int(access["exp"]) - int(access["iat"]) == 30 * 60  # type: ignore[call-overload]
    assert int(refresh_claims["exp"]) - int(refresh_claims["iat"]) == 7 * 24 * 3600  # type: ignore[call-overload]
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "HS256"


async def test_missing_or_malformed_header_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/me")
    assert_error(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    for header in ("Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000):
        response = await client.get("/api/v1/auth/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert set(response.json()) == {"error"}


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    await register(client)
    tokens = await login(client)
    assert_error(await me(client, tokens["refresh_token"]), 401, "invalid_token")


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    await register(client)
    tokens = await login(client)
    assert_error(await refresh(client, tokens["access_token"]), 401, "invalid_token")


async def test_tampered_signature_is_rejected(client: httpx.AsyncClient) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_error(await me(client, f"{header}.{payload}.{flipped}"), 401, "invalid_token")


async def test_tampered_payload_is_rejected(client: httpx.AsyncClient) -> None:
    await register(client)
    token = (await login(client))["access_token"]
    header, _payload, signature = token.split(".")
    claims = _claims(token)
    claims["sub"] = str(uuid.uuid4())
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_error(await me(client, f"{header}.{forged}.{signature}"), 401, "invalid_token")


async def test_alg_none_is_rejected(client: httpx.AsyncClient) -> None:
    await register(client)
    claims = _claims((await login(client))["access_token"])
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    assert_error(await me(client, unsigned), 401, "invalid_token")


async def test_token_signed_with_another_key_is_rejected(client: httpx.AsyncClient) -> None:
    await register(client)
    claims = _claims((await login(client))["access_token"])
    forged = jwt.encode(claims, "another-secret-" + "x" * 40, algorithm="HS256")
    assert_error(await me(client, forged), 401, "invalid_token")


def _forge(
    *,
    sub: object,
    sid: object,
    token_type: TokenType = "access",
    jti: object = None,
    issued: datetime | None = None,
) -> str:
    """A correctly signed token with chosen claims."""
    lifetime = timedelta(minutes=30) if token_type == "access" else timedelta(days=7)
    token, _ = encode_token(
        user_id=uuid.UUID(str(sub)),
        session_id=uuid.UUID(str(sid)),
        token_type=token_type,
        lifetime=lifetime,
        key=TEST_SECRET,
        jti=uuid.UUID(str(jti)) if jti else None,
        now=issued,
    )
    return token


async def test_expired_access_token_is_rejected(client: httpx.AsyncClient) -> None:
    await register(client)
    claims = _claims((await login(client))["access_token"])
    expired = _forge(
        sub=claims["sub"], sid=claims["sid"], issued=datetime.now(UTC) - timedelta(hours=2)
    )
    assert_error(await me(client, expired), 401, "token_expired")


async def test_expired_refresh_token_is_rejected(client: httpx.AsyncClient) -> None:
    await register(client)
    claims = _claims((await login(client))["refresh_token"])
    expired = _forge(
        sub=claims["sub"],
        sid=claims["sid"],
        token_type="refresh",
        jti=claims["jti"],
        issued=datetime.now(UTC) - timedelta(days=8),
    )
    assert_error(await refresh(client, expired), 401, "token_expired")


async def test_unknown_user_in_sub_is_rejected(client: httpx.AsyncClient) -> None:
    token = _forge(sub=uuid.uuid4(), sid=uuid.uuid4())
    assert_error(await me(client, token), 401, "invalid_token")


async def test_token_of_one_user_with_session_of_another_is_rejected(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "a@example.com")
    await register(client, "b@example.com")
    a = _claims((await login(client, "a@example.com"))["access_token"])
    b = _claims((await login(client, "b@example.com"))["access_token"])
    assert_error(await me(client, _forge(sub=a["sub"], sid=b["sid"])), 401, "invalid_token")


def test_decode_requires_every_claim() -> None:
    incomplete = jwt.encode({"sub": str(uuid.uuid4()), "type": "access"}, TEST_SECRET, "HS256")
    with pytest.raises(Exception, match="invalid"):
        decode_token(incomplete, key=TEST_SECRET, expected_type="access")
