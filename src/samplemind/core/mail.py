"""Outgoing mail: SMTP (std-lib ``smtplib`` in a worker thread), or the server log.

``SAMPLEMIND_SMTP_HOST`` set: mails go to that server (STARTTLS, implicit TLS or plain,
``SAMPLEMIND_SMTP_SECURITY``). Unset in development: each mail is written to the log,
links included, so a local server needs no mail setup. In production ``serve`` refuses
to start without an SMTP host unless ``SAMPLEMIND_MAIL_DISABLED=true``
(``Settings.mail_problem``). With mail disabled, mails are dropped and only their
subject and recipient are logged.

A temporary failure (a 4xx reply, a refused or dropped connection, a timeout) is tried
again, up to ``MAIL_SEND_ATTEMPTS`` times in all, ``MAIL_RETRY_DELAY_SECONDS`` apart
and doubling; a permanent one (5xx: unknown recipient, bad login, …) is not.
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

MAX_RETRY_DELAY_SECONDS = 300.0


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
        try:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                password = self.password.get_secret_value() if self.password else ""
                smtp.login(self.username, password)
            smtp.send_message(message)
        except BaseException:
            smtp.close()
            raise
        try:  # sent: a failing goodbye must not make it look unsent (and send it again)
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


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


def is_temporary(exc: Exception) -> bool:
    """Whether sending again later may succeed: SMTP 4xx replies and network trouble,
    not a 5xx, a TLS problem or a missing server feature (configuration: the same next
    time)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected | ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return True  # the connection dropped, in TLS or not
    if isinstance(exc, smtplib.SMTPException | ssl.SSLError):
        return False
    return isinstance(exc, OSError)  # refused, unreachable, timed out


class Mailer:
    def __init__(self, settings: Settings, transport: MailTransport | None = None) -> None:
        self.sender = settings.effective_mail_from
        self.transport = transport or create_transport(settings)
        self.attempts = settings.mail_send_attempts
        self.retry_delay = settings.mail_retry_delay_seconds

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
        """Deliver ``mail``, retrying temporary failures; a failure is logged, never
        raised. True when delivered."""
        message = self.build(mail)
        delay = self.retry_delay
        for attempt in range(1, self.attempts + 1):
            try:
                await self.transport.deliver(message)
            except Exception as exc:
                again = attempt < self.attempts and is_temporary(exc)
                logger.warning(
                    "mail %r to %s failed (attempt %d of %d%s): %s: %s",
                    mail.subject,
                    mail.to,
                    attempt,
                    self.attempts,
                    f", again in {delay:g} s" if again else "",
                    type(exc).__name__,
                    exc,
                )
                if not again:
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_SECONDS)
            else:
                return True
        return False
