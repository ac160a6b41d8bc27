"""Sign-in with an OpenID Connect provider, end to end against a real provider
(node-oidc-provider): PKCE both ways, state, nonce, ID token signature, account linking,
and the attacks the flow must stop (login CSRF, takeover by a pre-registered email,
open redirects, replays)."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from samplemind.auth import totp
from samplemind.auth.models import User
from samplemind.auth.passwords import hash_password
from samplemind.oauth.providers import OidcProvider, ProviderError
from tests.auth.helpers import PASSWORD, assert_error, login, me
from tests.oauth.conftest import (
    WEB_APP,
    Provider,
    WebApp,
    callback,
    sign_in,
    start,
    through_the_provider,
)

CALLBACK = "http://testserver/api/v1/auth/oauth/corp/callback"


async def _exchange(
    client: httpx.AsyncClient, code: str, page: WebApp, **extra: str
) -> httpx.Response:
    body = {"code": code, "code_verifier": page.verifier, **extra}
    return await client.post("/api/v1/auth/oauth/exchange", json=body)


async def _tokens(client: httpx.AsyncClient, account: str) -> dict[str, str]:
    page = WebApp()
    answer = await sign_in(client, account, page)
    assert "code" in answer, answer
    response = await _exchange(client, answer["code"], page)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _state_of(client: httpx.AsyncClient, page: WebApp) -> str:
    started = await start(client, page)
    return parse_qs(urlsplit(started.headers["location"]).query)["state"][0]


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


async def test_a_verified_account_with_the_email_is_linked(
    client: httpx.AsyncClient, database_url: str
) -> None:
    registered = await client.post(
        "/api/v1/auth/register", json={"email": "Alice@Example.com", "password": PASSWORD}
    )
    await _sql(database_url, update(User).values(email_verified_at=User.created_at))
    tokens = await _tokens(client, "alice")
    assert (await me(client, tokens["access_token"])).json()["id"] == registered.json()["id"]
    # The password keeps working beside the provider.
    assert (await login(client, "Alice@Example.com"))["access_token"]


async def test_an_account_registered_but_never_verified_is_not_taken_over(
    client: httpx.AsyncClient,
) -> None:
    # Someone registers alice's address first, without owning it…
    squatter = await client.post(
        "/api/v1/auth/register", json={"email": "alice@example.com", "password": PASSWORD}
    )
    assert squatter.status_code == 201
    # …then alice signs in with her provider: she is not put into that account.
    assert await sign_in(client, "alice", WebApp()) == {"error": "email_in_use"}


async def test_an_unverified_or_missing_email_creates_nothing(client: httpx.AsyncClient) -> None:
    assert await sign_in(client, "bob", WebApp()) == {"error": "email_not_verified"}
    assert await sign_in(client, "carol", WebApp()) == {"error": "email_not_verified"}
    response = await client.post(
        "/api/v1/auth/register", json={"email": "bob@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201  # no account was made for bob


async def test_the_login_code_and_the_state_work_once(client: httpx.AsyncClient) -> None:
    page = WebApp()
    started = await start(client, page, account="alice")
    back = await through_the_provider(started.headers["location"])
    answer = await callback(client, back)
    parts = urlsplit(back)
    assert_error(await client.get(f"{parts.path}?{parts.query}"), 400, "invalid_state")
    assert (await _exchange(client, answer["code"], page)).status_code == 200
    assert_error(await _exchange(client, answer["code"], page), 400, "invalid_code")
    assert_error(await _exchange(client, "made-up", page), 400, "invalid_code")


async def test_a_login_code_planted_in_another_browser_signs_nobody_in(
    client: httpx.AsyncClient,
) -> None:
    # The attacker completes a sign-in of their own and sends the code (or the
    # provider's callback link) to the victim, whose page holds another verifier.
    attacker = WebApp()
    answer = await sign_in(client, "alice", attacker)
    victim = WebApp()
    assert_error(await _exchange(client, answer["code"], victim), 400, "invalid_code")
    # The attacker's own page still can (the failed attempt did not use the code up).
    assert (await _exchange(client, answer["code"], attacker)).status_code == 200


async def test_a_refusal_or_a_forged_code_returns_an_error_to_the_web_app(
    client: httpx.AsyncClient,
) -> None:
    for extra, expected in [
        ("error=access_denied", "access_denied"),
        ("code=forged", "provider_error"),
    ]:
        state = await _state_of(client, WebApp())
        back = f"{CALLBACK}?state={state}&{extra}"
        assert await callback(client, back) == {"error": expected}
        parts = urlsplit(back)  # that sign-in is used up
        assert_error(await client.get(f"{parts.path}?{parts.query}"), 400, "invalid_state")
    assert_error(await client.get(f"{urlsplit(CALLBACK).path}?code=x"), 400, "invalid_state")


@pytest.mark.parametrize(
    ("redirect_to", "challenge", "code"),
    [
        ("https://evil.example/steal", None, "invalid_redirect"),
        ("http://localhost:3000/open-redirect?to=https://evil.example", None, "invalid_redirect"),
        ("javascript:alert(1)", None, "invalid_redirect"),
        ("/relative", None, "invalid_redirect"),
        ("http://[", None, "invalid_redirect"),
        ("http://localhost:3000:99999/x", None, "invalid_redirect"),
        ("http://user@localhost:3000/signed-in", None, "invalid_redirect"),
        (f"{WEB_APP}?code=planted", None, "invalid_redirect"),
        (f"{WEB_APP}#/route", None, "invalid_redirect"),
        (f"{WEB_APP}\x00", None, "invalid_redirect"),
        (f"{WEB_APP}/deeper", None, "invalid_redirect"),
        (WEB_APP, "too-short", "invalid_challenge"),
        (WEB_APP, WebApp().challenge + "\n", "invalid_challenge"),
        (WEB_APP, "", None),
    ],
)
async def test_start_refuses_bad_input_with_422(
    client: httpx.AsyncClient, redirect_to: str, challenge: str | None, code: str | None
) -> None:
    params = {"redirect_to": redirect_to, "code_challenge": WebApp().challenge}
    if challenge is not None:
        params["code_challenge"] = challenge
    response = await client.get("/api/v1/auth/oauth/corp/start", params=params)
    assert_error(response, 422, code)


async def test_unknown_and_listed_providers(client: httpx.AsyncClient) -> None:
    params = {"redirect_to": WEB_APP, "code_challenge": WebApp().challenge}
    assert_error(
        await client.get("/api/v1/auth/oauth/nope/start", params=params), 404, "unknown_provider"
    )
    listed = await client.get("/api/v1/auth/oauth/providers")
    assert listed.json() == [{"name": "corp", "start_url": "/api/v1/auth/oauth/corp/start"}]


async def test_two_factor_sign_in_still_asks_for_the_code(
    client: httpx.AsyncClient, database_url: str
) -> None:
    access = (await _tokens(client, "alice"))["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    # An account made by the provider has a password nobody knows (password reset sets
    # one; here, the database): two-factor setup asks for it.
    setup = await client.post("/api/v1/auth/2fa/setup", json={"password": "x"}, headers=bearer)
    assert_error(setup, 400, "invalid_password")
    await _sql(
        database_url, update(User).values(hashed_password=hash_password(PASSWORD, rounds=12))
    )
    setup = await client.post("/api/v1/auth/2fa/setup", json={"password": PASSWORD}, headers=bearer)
    secret = base64.b32decode(setup.json()["secret"] + "=" * (-len(setup.json()["secret"]) % 8))
    step = totp.time_step(time.time())
    enabled = await client.post(
        "/api/v1/auth/2fa/enable", json={"code": totp.hotp(secret, step)}, headers=bearer
    )
    assert enabled.status_code == 200
    page = WebApp()
    answer = await sign_in(client, "alice", page)
    assert_error(await _exchange(client, answer["code"], page), 401, "otp_required")
    signed_in = await _exchange(client, answer["code"], page, otp_code=totp.hotp(secret, step + 1))
    assert signed_in.status_code == 200, signed_in.text


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
    no_kid = jwt.encode(claims, forger, algorithm="RS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in (forged, no_kid, unsigned, "not.a.token"):
        with pytest.raises(ProviderError):
            await provider.verified_id_token(token, nonce="n")


async def _sql(database_url: str, statement: object) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(statement)  # type: ignore[call-overload]
    finally:
        await engine.dispose()


async def test_two_first_sign_ins_at_once_make_one_account(
    client: httpx.AsyncClient, database_url: str
) -> None:
    pages = [WebApp(), WebApp()]
    backs = []
    for page in pages:
        started = await start(client, page, account="alice")
        backs.append(await through_the_provider(started.headers["location"]))
    answers = await asyncio.gather(*(callback(client, back) for back in backs))
    assert all(set(answer) == {"code"} or answer == {"error": "try_again"} for answer in answers)
    codes = [
        (answer["code"], page)
        for answer, page in zip(answers, pages, strict=True)
        if "code" in answer
    ]
    assert codes, answers
    for code, page in codes:
        assert (await _exchange(client, code, page)).status_code == 200
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            users = (await connection.execute(select(User.email))).scalars().all()
    finally:
        await engine.dispose()
    assert users == ["alice@example.com"]


async def test_a_new_start_deletes_only_long_dead_sign_ins(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await start(client, WebApp())
    await start(client, WebApp())
    # One expired a moment ago (its callback may still be talking to the provider),
    # one long ago.
    await _sql(
        database_url,
        text(
            "UPDATE oauth_logins SET expires_at = now() - CASE WHEN created_at ="
            " (SELECT min(created_at) FROM oauth_logins) THEN interval '5 minutes'"
            " ELSE interval '2 hours' END"
        ),
    )
    await start(client, WebApp())
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            ages = (
                (
                    await connection.execute(
                        text("SELECT expires_at < now() - interval '1 hour' FROM oauth_logins")
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    assert sorted(ages) == [False, False]  # the fresh one and the recently expired one
