"""Who is asking: the client address and user agent of the current request, for the
audit trail, without passing them through every service call."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class RequestClient:
    ip_address: str | None = None
    user_agent: str | None = None


_NO_CLIENT = RequestClient()
_current: ContextVar[RequestClient | None] = ContextVar("samplemind_request_client", default=None)


def current_client() -> RequestClient:
    """The current request's client; empty outside a request (CLI, workers)."""
    return _current.get() or _NO_CLIENT


class RequestClientMiddleware:
    """Sets :func:`current_client` for each HTTP and WebSocket request. Work spawned from
    the request (mail, audit writes after the response) copies the context with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        user_agent = dict(scope.get("headers") or ()).get(b"user-agent")
        token = _current.set(
            RequestClient(
                ip_address=client[0] if client else None,
                user_agent=user_agent.decode("latin-1")[:400] if user_agent else None,
            )
        )
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
