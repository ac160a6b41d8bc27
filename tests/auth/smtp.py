"""Real SMTP servers (aiosmtpd) on free loopback ports that keep what they receive:
plain, or with TLS (STARTTLS or implicit) and a login."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import free_port

IMPLICIT_TLS_WARNING = "ignore:Requiring AUTH while not requiring TLS:UserWarning"
TOKEN_IN_LINK = re.compile(r"\?token=([A-Za-z0-9_-]+)")


class Inbox:
    """aiosmtpd handler: parses each message and keeps it with its envelope."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


class RefusingInbox(Inbox):
    """Answers the first DATA commands with ``replies`` (``"451 …"``), then accepts."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__()
        self.replies = list(replies)
        self.attempts = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        return await super().handle_DATA(server, session, envelope)


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n")


def token_from(message: EmailMessage) -> str:
    found = TOKEN_IN_LINK.search(body(message))
    assert found, body(message)
    return found.group(1)


@contextmanager
def smtp_server(inbox: Inbox | None = None) -> Iterator[tuple[Inbox, int]]:
    inbox = inbox or Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """Accepts connections and never says a word: an SMTP server that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@dataclass(frozen=True)
class TlsServer:
    inbox: Inbox
    port: int
    ca_file: Path
    logins: list[tuple[str, str]]


def _check_login(
    logins: list[tuple[str, str]], username: str, password: str
) -> Callable[..., AuthResult]:
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        given = (auth_data.login.decode(), auth_data.password.decode())
        logins.append(given)
        # handled=False: aiosmtpd answers the client itself (235 or 535).
        return AuthResult(success=given == (username, password), handled=False)

    return authenticate


@contextmanager
def tls_smtp_server(
    tmp_path: Path, *, implicit: bool, username: str, password: str
) -> Iterator[TlsServer]:
    """An SMTP server with a certificate for 127.0.0.1 from a throw-away CA: STARTTLS
    required before AUTH (``implicit=False``), or TLS from the first byte."""
    ca = trustme.CA()
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    inbox, logins, port = Inbox(), [], free_port()
    options: dict[str, Any] = {
        "authenticator": _check_login(logins, username, password),
        "auth_required": True,
    }
    if implicit:
        # aiosmtpd does not count a TLS-wrapped socket as TLS for AUTH (and warns about
        # it, IMPLICIT_TLS_WARNING); it is TLS.
        options.update(ssl_context=context, auth_require_tls=False)
    else:
        options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield TlsServer(inbox, port, ca_file, logins)
    finally:
        controller.stop()
