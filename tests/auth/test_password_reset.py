"""Password reset by a mailed single-use token, delivered to a real SMTP server."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.auth.helpers import PASSWORD, assert_error, login, me, refresh, register
from tests.auth.mail_app import PUBLIC_URL, SENDER, MailApp, mail_app
from tests.auth.smtp import body, silent_server, token_from
from tests.conftest import REDIS_URL, free_port

NEW_PASSWORD = "Brand-new Passphrase 42"


async def request_reset(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/v1/auth/password-reset/request", json={"email": email})


async def confirm_reset(
    client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": password}
    )


async def reset_token(mail: MailApp, email: str = "test@samplemind.ai") -> str:
    response = await request_reset(mail.client, email)
    assert response.status_code == 202, response.text
    await mail.settle()
    resets = [m for m in mail.inbox.to(email) if "password" in m["Subject"].lower()]
    assert resets, [m["Subject"] for m in mail.inbox.messages]
    return token_from(resets[-1])


async def test_a_known_email_gets_a_reset_mail(mail: MailApp) -> None:
    await register(mail.client)
    response = await request_reset(mail.client, "Test@SampleMind.ai")
    assert response.status_code == 202
    await mail.settle()
    [message] = [m for m in mail.inbox.to("test@samplemind.ai") if "password" in m["Subject"]]
    assert message["From"] == SENDER
    assert message["Subject"] == "Reset your SampleMind password"
    text_body = body(message)
    token = token_from(message)
    assert f"{PUBLIC_URL}/reset-password?token={token}" in text_body
    assert f"\n{token}\n" in text_body  # the bare token too, for API clients
    assert "works once, for 1 hour." in text_body
    assert len(token) == 43  # 32 random bytes, URL-safe base64 without padding


async def test_only_the_hash_of_the_token_is_stored(mail: MailApp) -> None:
    await register(mail.client)
    token = await reset_token(mail)
    engine = create_async_engine(mail.database_url)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT token_hash, expires_at - created_at AS lifetime FROM auth_tokens "
                    "WHERE purpose = 'password_reset'"
                )
            )
        ).all()
        dump = (await connection.execute(text("SELECT auth_tokens::text FROM auth_tokens"))).all()
    await engine.dispose()
    [(token_hash, lifetime)] = rows
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert lifetime.total_seconds() == pytest.approx(3600, abs=1)
    assert not any(token in row[0] for row in dump)


async def test_an_unknown_email_gets_no_mail_and_the_same_answer(mail: MailApp) -> None:
    await register(mail.client)
    known = await request_reset(mail.client, "test@samplemind.ai")
    unknown = await request_reset(mail.client, "nobody@samplemind.ai")
    await mail.settle()
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert known.json()["message"]
    assert mail.inbox.to("nobody@samplemind.ai") == []
    assert len([m for m in mail.inbox.messages if "password" in m["Subject"]]) == 1


async def test_confirm_sets_the_password_and_ends_every_session(mail: MailApp) -> None:
    await register(mail.client)
    sessions = [await login(mail.client) for _ in range(2)]
    token = await reset_token(mail)

    response = await confirm_reset(mail.client, token)
    assert response.status_code == 200, response.text
    assert response.json()["message"]

    old = await mail.client.post(
        "/api/v1/auth/login", json={"email": "test@samplemind.ai", "password": PASSWORD}
    )
    assert_error(old, 401, "invalid_credentials")
    new = await mail.client.post(
        "/api/v1/auth/login", json={"email": "test@samplemind.ai", "password": NEW_PASSWORD}
    )
    assert new.status_code == 200
    assert (await me(mail.client, new.json()["access_token"])).status_code == 200
    for tokens in sessions:
        assert_error(await me(mail.client, tokens["access_token"]), 401, "session_revoked")
        assert_error(await refresh(mail.client, tokens["refresh_token"]), 401, "session_revoked")


async def test_a_reset_token_works_once(mail: MailApp) -> None:
    await register(mail.client)
    token = await reset_token(mail)
    assert (await confirm_reset(mail.client, token)).status_code == 200
    assert_error(
        await confirm_reset(mail.client, token, "Another Passphrase 43"), 400, "invalid_token"
    )


async def test_using_one_reset_link_voids_the_others(mail: MailApp) -> None:
    await register(mail.client)
    first = await reset_token(mail)
    second = await reset_token(mail)
    assert first != second
    assert (await confirm_reset(mail.client, second)).status_code == 200
    assert_error(await confirm_reset(mail.client, first), 400, "invalid_token")


async def test_two_confirms_racing_with_one_token_let_exactly_one_win(mail: MailApp) -> None:
    await register(mail.client)
    token = await reset_token(mail)
    responses = await asyncio.gather(
        confirm_reset(mail.client, token, "First Racer Passphrase"),
        confirm_reset(mail.client, token, "Second Racer Passphrase"),
    )
    assert sorted(r.status_code for r in responses) == [200, 400]


async def test_expired_tampered_and_used_tokens_get_one_answer(mail: MailApp) -> None:
    await register(mail.client)
    token = await reset_token(mail)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    answers = [await confirm_reset(mail.client, tampered)]
    await mail.sql("UPDATE auth_tokens SET expires_at = now() - interval '1 second'")
    answers.append(await confirm_reset(mail.client, token))
    await mail.sql("UPDATE auth_tokens SET expires_at = now() + interval '1 hour'")
    assert (await confirm_reset(mail.client, token)).status_code == 200
    answers.append(await confirm_reset(mail.client, token))
    for answer in answers:
        assert_error(answer, 400, "invalid_token")
    assert len({answer.content for answer in answers}) == 1
    # The expired attempt did not change the password; the later valid one did.
    assert (
        await mail.client.post(
            "/api/v1/auth/login", json={"email": "test@samplemind.ai", "password": NEW_PASSWORD}
        )
    ).status_code == 200


async def test_a_verification_token_is_no_reset_token(mail: MailApp) -> None:
    await register(mail.client)
    await mail.settle()
    [verification] = mail.inbox.to("test@samplemind.ai")
    assert_error(await confirm_reset(mail.client, token_from(verification)), 400, "invalid_token")


async def test_a_weak_new_password_is_refused_and_the_token_kept(mail: MailApp) -> None:
    await register(mail.client)
    tokens = await login(mail.client)
    token = await reset_token(mail)
    assert_error(await confirm_reset(mail.client, token, "password123"), 422, "weak_password")
    assert_error(
        await confirm_reset(mail.client, token, "test@samplemind.ai"), 422, "weak_password"
    )
    assert (await me(mail.client, tokens["access_token"])).status_code == 200
    assert (await confirm_reset(mail.client, token)).status_code == 200


async def test_a_disabled_account_gets_no_reset_mail(mail: MailApp) -> None:
    await register(mail.client)
    await mail.settle()
    await mail.sql("UPDATE users SET is_active = false")
    before = len(mail.inbox.messages)
    assert (await request_reset(mail.client, "test@samplemind.ai")).status_code == 202
    await mail.settle()
    assert len(mail.inbox.messages) == before


async def test_bad_request_bodies_are_422(mail: MailApp) -> None:
    assert_error(await request_reset(mail.client, "not-an-email"), 422, "validation_error")
    response = await mail.client.post("/api/v1/auth/password-reset/confirm", json={"token": "x"})
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("use_redis", [False, True])
async def test_reset_requests_are_rate_limited_per_address(
    database_url: str, tmp_path: Path, use_redis: bool
) -> None:
    async with mail_app(
        database_url,
        tmp_path,
        mail_rate_limit_per_hour=2,
        redis_url=REDIS_URL if use_redis else None,
    ) as mail:
        await register(mail.client)
        statuses = [
            (await request_reset(mail.client, "test@samplemind.ai")).status_code for _ in range(2)
        ]
        limited = await request_reset(mail.client, "TEST@samplemind.ai")
        assert statuses == [202, 202]
        assert_error(limited, 429, "rate_limited")
        assert 3500 < int(limited.headers["retry-after"]) <= 3600
        # The limit is per address, known or not: another one is still served.
        assert (await request_reset(mail.client, "other@samplemind.ai")).status_code == 202
        await mail.settle()
        assert len([m for m in mail.inbox.messages if "password" in m["Subject"]]) == 2


async def test_reset_requests_are_rate_limited_per_client(
    database_url: str, tmp_path: Path
) -> None:
    async with mail_app(database_url, tmp_path, auth_rate_limit_per_minute=3) as mail:
        statuses = [
            (await request_reset(mail.client, f"user{n}@samplemind.ai")).status_code
            for n in range(4)
        ]
        assert statuses == [202, 202, 202, 429]


async def test_a_hanging_mail_server_does_not_hold_up_the_request(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with silent_server() as port:
        async with mail_app(database_url, tmp_path, smtp_port=port, smtp_timeout_seconds=1) as mail:
            await register(mail.client)
            await mail.settle()  # the verification mail times out first
            caplog.clear()
            response = await request_reset(mail.client, "test@samplemind.ai")
            assert response.status_code == 202
            # Answered while the mail is still on its way.
            assert mail.app.state.background.pending == 1
            with caplog.at_level(logging.WARNING, logger="samplemind.core.mail"):
                await mail.settle()
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1
    assert "Reset your SampleMind password" in failures[0]
    assert "test@samplemind.ai" in failures[0]
    assert "timed out" in failures[0].lower() or "timeout" in failures[0].lower()


async def test_a_mail_server_that_is_down_is_logged_not_raised(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed_port = free_port()  # nothing listens there
    async with mail_app(database_url, tmp_path, smtp_port=closed_port) as mail:
        with caplog.at_level(logging.WARNING, logger="samplemind.core.mail"):
            registered = await mail.client.post(
                "/api/v1/auth/register", json={"email": "down@samplemind.ai", "password": PASSWORD}
            )
            reset = await request_reset(mail.client, "down@samplemind.ai")
            await mail.settle()
    assert registered.status_code == 201
    assert reset.status_code == 202
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2
    assert all("ConnectionRefusedError" in failure for failure in failures)


async def test_without_smtp_host_development_writes_the_mail_to_the_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # The default test settings have no SMTP host: the mail goes to the server log.
    with caplog.at_level(logging.INFO, logger="samplemind.core.mail"):
        await register(client)
        response = await request_reset(client, "test@samplemind.ai")
        assert response.status_code == 202
        # create_app is behind the fixture; wait on the log instead of the task set.
        for _ in range(200):
            if any("reset-password?token=" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    [logged] = [r.getMessage() for r in caplog.records if "reset-password?token=" in r.getMessage()]
    assert "To: test@samplemind.ai" in logged
    assert "http://127.0.0.1:8000/reset-password?token=" in logged


async def test_a_new_token_clears_the_expired_ones(mail: MailApp) -> None:
    await register(mail.client)
    await reset_token(mail)
    await mail.sql("UPDATE auth_tokens SET expires_at = now() - interval '1 second'")
    await reset_token(mail)
    engine = create_async_engine(mail.database_url)
    async with engine.connect() as connection:
        left = (await connection.execute(text("SELECT purpose FROM auth_tokens"))).all()
    await engine.dispose()
    assert [row[0] for row in left] == ["password_reset"]


async def test_with_mail_disabled_nothing_is_sent_and_no_token_is_logged(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with mail_app(database_url, tmp_path, mail_disabled=True) as mail:
        with caplog.at_level(logging.INFO, logger="samplemind.core.mail"):
            await register(mail.client)
            assert (await request_reset(mail.client, "test@samplemind.ai")).status_code == 202
            await mail.settle()
    assert mail.inbox.messages == []
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2
    assert all("mail disabled" in line and "token" not in line for line in logged)
