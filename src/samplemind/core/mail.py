"""Outgoing mail: SMTP (std-lib ``smtplib`` in a worker thread), or the server log.

``SAMPLEMIND_SMTP_HOST`` set: mails go to that server (STARTTLS, implicit TLS or plain,
``SAMPLEMIND_SMTP_SECURITY``). Unset in development: each mail is written to the log,
links included, so a local server needs no mail setup. In production ``serve`` refuses
to start without an SMTP host unless ``SAMPLEMIND_MAIL_DISABLED=true``
(``Settings.mail_problem``). With mail disabled, mails are dropped and only their
subject and recipient are logged.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol

from samplemind.core.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


class MailTransport(Protocol):
    async def deliver(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None
        self.host = settings.smtp_host
        self.port = settings.effective_smtp_port
        self.security = settings.smtp_security
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.timeout = settings.smtp_timeout_seconds
        self.ca_file = settings.smtp_ca_file

    async def deliver(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._deliver_blocking, message)

    def _deliver_blocking(self, message: EmailMessage) -> None:
        # Certificates and host names are always checked: against SMTP_CA_FILE when set.
        context = ssl.create_default_context(cafile=self.ca_file)
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                password = self.password.get_secret_value() if self.password else ""
                smtp.login(self.username, password)
            smtp.send_message(message)


class LogTransport:
    """Development without SMTP: the whole mail goes to the log."""

    async def deliver(self, message: EmailMessage) -> None:
        body = message.get_content()
        logger.info(
            "mail (no SMTP_HOST set, not sent)\nTo: %s\nSubject: %s\n\n%s",
            message["To"],
            message["Subject"],
            body,
        )


class DisabledTransport:
    """Production with SAMPLEMIND_MAIL_DISABLED=true: dropped; the log never sees a token."""

    async def deliver(self, message: EmailMessage) -> None:
        logger.warning(
            "mail disabled (SAMPLEMIND_MAIL_DISABLED): not sending %r to %s",
            message["Subject"],
            message["To"],
        )


def create_transport(settings: Settings) -> MailTransport:
    if settings.mail_disabled:
        return DisabledTransport()
    if settings.smtp_host is not None:
        return SmtpTransport(settings)
    if settings.is_production:  # refused by serve (mail_problem); never log tokens there
        return DisabledTransport()
    return LogTransport()


class Mailer:
    def __init__(self, settings: Settings, transport: MailTransport | None = None) -> None:
        self.sender = settings.effective_mail_from
        self.transport = transport or create_transport(settings)

    def build(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        domain = parseaddr(self.sender)[1].rpartition("@")[2]
        message["Message-ID"] = make_msgid(domain=domain or None)
        message.set_content(mail.text)
        return message

    async def send(self, mail: Mail) -> bool:
        """Deliver ``mail``; a failure is logged, never raised. True when delivered."""
        try:
            await self.transport.deliver(self.build(mail))
        except Exception as exc:
            logger.warning(
                "mail %r to %s failed: %s: %s", mail.subject, mail.to, type(exc).__name__, exc
            )
            return False
        return True
