"""Sign-in with an OpenID Connect provider, end to end against a real provider
(node-oidc-provider): PKCE, state, nonce, ID token signature, account linking."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from samplemind.auth import totp
from samplemind.auth.models import User
from samplemind.auth.passwords import hash_password
from samplemind.oauth.providers import OidcProvider, ProviderError
from tests.auth.helpers import PASSWORD, assert_error, login, me
from tests.oauth.conftest import (
    WEB_APP,
    Provider,
    callback,
    sign_in,
    through_the_provider,
)


async def _exchange(client: httpx.AsyncClient, code: str, **extra: str) -> httpx.Response:
    return await client.post("/api/v1/auth/oauth/exchange", json={"code": code, **extra})


async def _tokens(client: httpx.AsyncClient, account: str) -> dict[str, str]:
    query = await sign_in(client, account)
    assert "code" in query, query
    response = await _exchange(client, query["code"])
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_new_user_signs_in_and_comes_back_to_the_same_account(
    client: httpx.AsyncClient,
) -> None:
    first = await _tokens(client, "alice")
    profile = (await me(client, first["access_token"])).json()
    assert profile["email"] == "alice@example.com"
    assert profile["full_name"] == "Alice Liddell"
    assert profile["is_verified"] is True  # the provider verified it
    again = await _tokens(client, "alice")
    assert (await me(client, again["access_token"])).json()["id"] == profile["id"]
    events = await client.get(
        "/api/v1/audit/events", headers={"Authorization": f"Bearer {again['access_token']}"}
    )
    names = [item["event"] for item in events.json()["items"]]
    assert names == ["login.succeeded", "login.succeeded", "oauth.linked", "user.registered"]
    assert events.json()["items"][0]["details"]["provider"] == "corp"


async def test_an_existing_account_with_the_verified_email_is_linked(
    client: httpx.AsyncClient,
) -> None:
    registered = await client.post(
        "/api/v1/auth/register", json={"email": "Alice@Example.com", "password": PASSWORD}
    )
    tokens = await _tokens(client, "alice")
    assert (await me(client, tokens["access_token"])).json()["id"] == registered.json()["id"]
    # The password keeps working beside the provider.
    assert (await login(client, "Alice@Example.com"))["access_token"]


async def test_an_unverified_or_missing_email_creates_nothing(client: httpx.AsyncClient) -> None:
    assert await sign_in(client, "bob") == {"error": "email_not_verified"}
    assert await sign_in(client, "carol") == {"error": "email_not_verified"}
    response = await client.post(
        "/api/v1/auth/register", json={"email": "bob@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201  # no account was made for bob


async def test_the_login_code_and_the_state_work_once(client: httpx.AsyncClient) -> None:
    started = await client.get(
        "/api/v1/auth/oauth/corp/start", params={"redirect_to": WEB_APP, "login_hint": "alice"}
    )
    back = await through_the_provider(started.headers["location"])
    query = await callback(client, back, redirect_to=WEB_APP)
    parts = urlsplit(back)
    assert_error(await client.get(f"{parts.path}?{parts.query}"), 400, "invalid_state")
    assert (await _exchange(client, query["code"])).status_code == 200
    assert_error(await _exchange(client, query["code"]), 400, "invalid_code")
    assert_error(await _exchange(client, "made-up"), 400, "invalid_code")


async def test_a_refusal_or_a_forged_code_returns_an_error_to_the_web_app(
    client: httpx.AsyncClient,
) -> None:
    for extra, expected in [
        ("error=access_denied", "access_denied"),
        ("code=forged", "provider_error"),
    ]:
        started = await client.get("/api/v1/auth/oauth/corp/start", params={"redirect_to": WEB_APP})
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        back = f"http://testserver/api/v1/auth/oauth/corp/callback?state={state}&{extra}"
        assert await callback(client, back, redirect_to=WEB_APP) == {"error": expected}
        # That sign-in is used up.
        parts = urlsplit(back)
        assert_error(await client.get(f"{parts.path}?{parts.query}"), 400, "invalid_state")


async def test_the_redirect_must_stay_on_an_allowed_origin(client: httpx.AsyncClient) -> None:
    for target in ["https://evil.example/steal", "javascript:alert(1)", "/relative", ""]:
        response = await client.get("/api/v1/auth/oauth/corp/start", params={"redirect_to": target})
        assert_error(response, 422, "invalid_redirect" if target else None)
    assert_error(
        await client.get("/api/v1/auth/oauth/nope/start", params={"redirect_to": WEB_APP}),
        404,
        "unknown_provider",
    )
    listed = await client.get("/api/v1/auth/oauth/providers")
    assert listed.json() == [{"name": "corp", "start_url": "/api/v1/auth/oauth/corp/start"}]


async def test_two_factor_sign_in_still_asks_for_the_code(
    client: httpx.AsyncClient, database_url: str
) -> None:
    access = (await _tokens(client, "alice"))["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    # An account made by the provider has a password nobody knows: set one by reset, or
    # here directly, to set up two-factor sign-in (which asks for the password).
    setup = await client.post("/api/v1/auth/2fa/setup", json={"password": "x"}, headers=bearer)
    assert_error(setup, 400, "invalid_password")
    await _set_password(database_url, "alice@example.com")
    setup = await client.post("/api/v1/auth/2fa/setup", json={"password": PASSWORD}, headers=bearer)
    secret = base64.b32decode(setup.json()["secret"] + "=" * (-len(setup.json()["secret"]) % 8))
    step = totp.time_step(time.time())
    enabled = await client.post(
        "/api/v1/auth/2fa/enable", json={"code": totp.hotp(secret, step)}, headers=bearer
    )
    assert enabled.status_code == 200
    query = await sign_in(client, "alice")
    assert_error(await _exchange(client, query["code"]), 401, "otp_required")
    signed_in = await _exchange(client, query["code"], otp_code=totp.hotp(secret, step + 1))
    assert signed_in.status_code == 200, signed_in.text


async def _set_password(database_url: str, email: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(User)
                .where(User.email == email)
                .values(hashed_password=hash_password(PASSWORD, rounds=12))
            )
    finally:
        await engine.dispose()


async def test_an_id_token_the_provider_did_not_sign_is_refused(oidc_provider: Provider) -> None:
    provider = OidcProvider(
        name="corp",
        issuer=oidc_provider.issuer,
        client_id=oidc_provider.client_id,
        client_secret=oidc_provider.client_secret,
    )
    async with httpx.AsyncClient() as http:
        jwks = (await http.get(f"{oidc_provider.issuer}/jwks")).json()
    kid = jwks["keys"][0]["kid"]
    claims = {
        "sub": "alice",
        "aud": oidc_provider.client_id,
        "iss": oidc_provider.issuer,
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
        "nonce": "n",
    }
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": kid})
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in (forged, unsigned, "not.a.token"):
        with pytest.raises(ProviderError):
            await provider.verified_id_token(token, nonce="n")
