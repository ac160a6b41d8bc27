"""Mail over TLS with a login, against real aiosmtpd servers: STARTTLS, implicit TLS,
an untrusted certificate, a wrong password."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from tests.auth.helpers import PASSWORD
from tests.auth.mail_app import mail_app
from tests.auth.smtp import IMPLICIT_TLS_WARNING, body, tls_smtp_server, token_from

USERNAME = "samplemind"
SMTP_PASSWORD = "relay-password-7Qx"


async def _register(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text


@pytest.mark.filterwarnings(IMPLICIT_TLS_WARNING)
@pytest.mark.parametrize(("security", "implicit"), [("starttls", False), ("ssl", True)])
async def test_mail_goes_out_over_tls_with_a_login(
    database_url: str, tmp_path: Path, security: str, implicit: bool
) -> None:
    with tls_smtp_server(
        tmp_path, implicit=implicit, username=USERNAME, password=SMTP_PASSWORD
    ) as server:
        async with mail_app(
            database_url,
            tmp_path,
            smtp_port=server.port,
            smtp_security=security,
            smtp_username=USERNAME,
            smtp_password=SMTP_PASSWORD,
            smtp_ca_file=server.ca_file,
        ) as mail:
            await _register(mail.client, "tls@samplemind.ai")
            await mail.settle()
    [message] = server.inbox.to("tls@samplemind.ai")
    assert "verify-email?token=" in body(message)
    assert len(token_from(message)) == 43
    assert server.logins == [(USERNAME, SMTP_PASSWORD)]


@pytest.mark.parametrize(
    ("trust_the_ca", "smtp_password", "logged"),
    [
        (False, SMTP_PASSWORD, "CERTIFICATE_VERIFY_FAILED"),  # the throw-away CA is unknown
        (True, "not-the-password", "SMTPAuthenticationError"),
    ],
    ids=["untrusted certificate", "wrong password"],
)
async def test_a_refused_connection_or_login_is_logged_and_sends_nothing(
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    trust_the_ca: bool,
    smtp_password: str,
    logged: str,
) -> None:
    with tls_smtp_server(
        tmp_path, implicit=False, username=USERNAME, password=SMTP_PASSWORD
    ) as server:
        async with mail_app(
            database_url,
            tmp_path,
            smtp_port=server.port,
            smtp_security="starttls",
            smtp_username=USERNAME,
            smtp_password=smtp_password,
            smtp_ca_file=server.ca_file if trust_the_ca else None,
        ) as mail:
            with caplog.at_level(logging.WARNING, logger="samplemind.core.mail"):
                await _register(mail.client, "tls@samplemind.ai")
                await mail.settle()
    assert server.inbox.messages == []
    if not trust_the_ca:
        assert server.logins == []  # the password never left
    [failure] = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert logged in failure
    assert "not-the-password" not in failure
