"""A temporary mail failure is tried again; a permanent one is not. Real aiosmtpd
servers that refuse the first attempts."""

from __future__ import annotations

import logging
import smtplib
import ssl
from typing import Any

import pytest

from samplemind.core.config import Settings
from samplemind.core.mail import Mail, Mailer, is_temporary
from tests.auth.smtp import RefusingInbox, smtp_server
from tests.conftest import free_port

MAIL = Mail(to="producer@samplemind.ai", subject="Verify your address", text="Hello")


def _mailer(settings: Settings, port: int, *, attempts: int) -> Mailer:
    return Mailer(
        settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": "none",
                "mail_send_attempts": attempts,
                "mail_retry_delay_seconds": 0.01,
            }
        )
    )


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]


async def test_a_temporary_refusal_is_tried_again(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = RefusingInbox(["451 4.3.0 Try again later", "421 4.7.0 Busy"])
    with smtp_server(inbox) as (_, port), caplog.at_level(logging.WARNING):
        delivered = await _mailer(settings, port, attempts=3).send(MAIL)
    assert delivered is True
    assert inbox.attempts == 3
    assert [message["Subject"] for message in inbox.messages] == ["Verify your address"]
    first, second = _failures(caplog)
    assert "attempt 1 of 3, again in 0.01 s" in first and "451" in first
    assert "attempt 2 of 3, again in 0.02 s" in second


async def test_a_permanent_refusal_is_not_tried_again(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = RefusingInbox(["550 5.1.1 No such user"])
    with smtp_server(inbox) as (_, port), caplog.at_level(logging.WARNING):
        delivered = await _mailer(settings, port, attempts=3).send(MAIL)
    assert delivered is False
    assert inbox.attempts == 1 and inbox.messages == []
    [failure] = _failures(caplog)
    assert "attempt 1 of 3)" in failure and "550" in failure


async def test_a_server_that_stays_down_is_given_up_on(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        delivered = await _mailer(settings, free_port(), attempts=2).send(MAIL)
    assert delivered is False
    first, last = _failures(caplog)
    assert "again in" in first and "again in" not in last
    assert "attempt 2 of 2)" in last


class RudeGoodbye(RefusingInbox):
    """Takes the mail, then answers QUIT with an error."""

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        return "421 4.3.2 Shutting down"


async def test_a_failing_goodbye_after_the_mail_is_not_a_failure(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = RudeGoodbye([])
    with smtp_server(inbox) as (_, port), caplog.at_level(logging.WARNING):
        delivered = await _mailer(settings, port, attempts=3).send(MAIL)
    assert delivered is True
    assert inbox.attempts == 1 and len(inbox.messages) == 1  # sent once, not again
    assert _failures(caplog) == []


@pytest.mark.parametrize(
    ("error", "temporary"),
    [
        (smtplib.SMTPResponseException(451, b"later"), True),
        (smtplib.SMTPResponseException(554, b"no"), False),
        (smtplib.SMTPRecipientsRefused({"a@b.c": (450, b"busy")}), True),
        (smtplib.SMTPRecipientsRefused({"a@b.c": (550, b"unknown")}), False),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (smtplib.SMTPNotSupportedError("no AUTH"), False),
        (ssl.SSLError("handshake"), False),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (ValueError("bug"), False),
    ],
)
def test_which_failures_are_worth_another_try(error: Exception, temporary: bool) -> None:
    assert is_temporary(error) is temporary
