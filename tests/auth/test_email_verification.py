"""Email verification by a mailed single-use token, delivered to a real SMTP server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.auth.helpers import PASSWORD, USER_FIELDS, assert_error, bearer, login, me
from tests.auth.mail_app import PUBLIC_URL, SENDER, MailApp, mail_app
from tests.auth.smtp import body, token_from

EMAIL = "ada@samplemind.ai"


async def confirm(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/verify-email/confirm", json={"token": token})


async def request_mail(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/verify-email/request", headers=bearer(access_token))


async def register_and_get_token(mail: MailApp) -> str:
    response = await mail.client.post(
        "/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD, "full_name": "Ada"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["is_verified"] is False
    await mail.settle()
    [message] = mail.inbox.to(EMAIL)
    return token_from(message)


async def test_registration_mails_a_link_that_verifies_the_address(mail: MailApp) -> None:
    token = await register_and_get_token(mail)
    [message] = mail.inbox.to(EMAIL)
    assert message["From"] == SENDER
    assert message["Subject"] == "Confirm your email address for SampleMind"
    assert mail.inbox.recipients == [[EMAIL]]
    assert body(message).startswith("Hello Ada,")
    assert f"{PUBLIC_URL}/verify-email?token={token}" in body(message)
    assert "works once, for 48 hours." in body(message)

    tokens = await login(mail.client, EMAIL)
    assert (await me(mail.client, tokens["access_token"])).json()["is_verified"] is False
    response = await confirm(mail.client, token)
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Email address verified"}
    profile = (await me(mail.client, tokens["access_token"])).json()
    assert profile["is_verified"] is True
    assert set(profile) == USER_FIELDS


async def test_a_verification_token_works_once(mail: MailApp) -> None:
    token = await register_and_get_token(mail)
    assert (await confirm(mail.client, token)).status_code == 200
    assert_error(await confirm(mail.client, token), 400, "invalid_token")


async def test_expired_and_tampered_verification_tokens_are_refused(mail: MailApp) -> None:
    token = await register_and_get_token(mail)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert_error(await confirm(mail.client, tampered), 400, "invalid_token")
    assert_error(await confirm(mail.client, "not even base64 !"), 400, "invalid_token")
    await mail.sql("UPDATE auth_tokens SET expires_at = now() - interval '1 second'")
    assert_error(await confirm(mail.client, token), 400, "invalid_token")
    tokens = await login(mail.client, EMAIL)
    assert (await me(mail.client, tokens["access_token"])).json()["is_verified"] is False


async def test_the_verification_link_lives_48_hours(mail: MailApp) -> None:
    await register_and_get_token(mail)
    engine = create_async_engine(mail.database_url)
    async with engine.connect() as connection:
        lifetime = await connection.scalar(
            text(
                "SELECT expires_at - created_at FROM auth_tokens "
                "WHERE purpose = 'email_verification'"
            )
        )
    await engine.dispose()
    assert lifetime.total_seconds() == pytest.approx(48 * 3600, abs=1)


async def test_a_reset_token_does_not_verify(mail: MailApp) -> None:
    await register_and_get_token(mail)
    await mail.client.post("/api/v1/auth/password-reset/request", json={"email": EMAIL})
    await mail.settle()
    reset = [m for m in mail.inbox.to(EMAIL) if "password" in m["Subject"]]
    assert_error(await confirm(mail.client, token_from(reset[0])), 400, "invalid_token")


async def test_asking_again_mails_a_new_link_and_either_works_once(mail: MailApp) -> None:
    first = await register_and_get_token(mail)
    tokens = await login(mail.client, EMAIL)
    response = await request_mail(mail.client, tokens["access_token"])
    assert response.status_code == 202
    assert response.json() == {"message": f"A verification link has been sent to {EMAIL}"}
    await mail.settle()
    [_, again] = mail.inbox.to(EMAIL)
    second = token_from(again)
    assert second != first
    assert (await confirm(mail.client, second)).status_code == 200
    # Verifying used up the other link as well.
    assert_error(await confirm(mail.client, first), 400, "invalid_token")


async def test_a_verified_user_gets_no_new_mail(mail: MailApp) -> None:
    await confirm(mail.client, await register_and_get_token(mail))
    tokens = await login(mail.client, EMAIL)
    response = await request_mail(mail.client, tokens["access_token"])
    assert response.status_code == 202
    assert response.json() == {"message": "Email address is already verified"}
    await mail.settle()
    assert len(mail.inbox.to(EMAIL)) == 1


async def test_asking_for_a_link_needs_a_login(mail: MailApp) -> None:
    response = await mail.client.post("/api/v1/auth/verify-email/request")
    assert_error(response, 401, "not_authenticated")


async def test_a_password_reset_also_verifies_the_address(mail: MailApp) -> None:
    await register_and_get_token(mail)
    await mail.client.post("/api/v1/auth/password-reset/request", json={"email": EMAIL})
    await mail.settle()
    [reset] = [m for m in mail.inbox.to(EMAIL) if "password" in m["Subject"]]
    response = await mail.client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token_from(reset), "new_password": "Brand-new Passphrase 42"},
    )
    assert response.status_code == 200
    login_response = await mail.client.post(
        "/api/v1/auth/login", json={"email": EMAIL, "password": "Brand-new Passphrase 42"}
    )
    profile = await me(mail.client, login_response.json()["access_token"])
    assert profile.json()["is_verified"] is True


async def test_verification_mails_are_rate_limited_per_account(
    database_url: str, tmp_path: Path
) -> None:
    async with mail_app(database_url, tmp_path, mail_rate_limit_per_hour=2) as mail:
        await register_and_get_token(mail)
        tokens = await login(mail.client, EMAIL)
        statuses = [
            (await request_mail(mail.client, tokens["access_token"])).status_code for _ in range(3)
        ]
        assert statuses == [202, 202, 429]
        await mail.settle()
        assert len(mail.inbox.to(EMAIL)) == 3  # the one sent at registration and two more
