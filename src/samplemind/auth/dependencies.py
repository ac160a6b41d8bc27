"""FastAPI dependencies: the current user from the bearer token, and rate limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.auth.models import User
from samplemind.auth.service import Authenticated, AuthService, ClientInfo
from samplemind.core.db import get_db_session
from samplemind.core.errors import RateLimited, Unauthorized
from samplemind.core.ratelimit import RateLimiter

bearer_scheme = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")

DbSession = Annotated[AsyncSession, Depends(get_db_session)]


# Dependencies are ``async def`` even when they await nothing: FastAPI runs a plain
# ``def`` dependency in its thread pool, a thread hop on every request.
async def get_auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def get_authenticated(
    db: DbSession,
    service: AuthServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Authenticated:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Not authenticated", code="not_authenticated")
    return await service.authenticate(db, credentials.credentials)


CurrentAuth = Annotated[Authenticated, Depends(get_authenticated)]


async def get_current_user(auth: CurrentAuth) -> User:
    return auth.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def client_info(request: Request) -> ClientInfo:
    host = request.client.host if request.client else None
    return ClientInfo(user_agent=request.headers.get("user-agent"), ip_address=host)


async def enforce_rate_limit(
    request: Request,
    *,
    scope: str,
    subject: str,
    limit: int | None = None,
    window_seconds: int = 60,
) -> None:
    """Count a request against ``scope:subject``; ``limit`` defaults to
    AUTH_RATE_LIMIT_PER_MINUTE (per 60 s); 0 disables."""
    if limit is None:
        limit = request.app.state.settings.auth_rate_limit_per_minute
    if limit <= 0:
        return
    limiter: RateLimiter = request.app.state.rate_limiter
    retry_after = await limiter.hit(
        f"{scope}:{subject}", limit=limit, window_seconds=window_seconds
    )
    if retry_after is not None:
        raise RateLimited(retry_after)


async def limit_by_client(request: Request) -> None:
    await limit_client_in(request, scope=request.url.path)


async def limit_client_in(request: Request, *, scope: str) -> None:
    """Count a request of this client in the budget named ``scope``."""
    host = request.client.host if request.client else "unknown"
    await enforce_rate_limit(request, scope=scope, subject=host)


RateLimitedByClient = Depends(limit_by_client)


async def enforce_mail_rate_limit(request: Request, *, scope: str, subject: str) -> None:
    """At most MAIL_RATE_LIMIT_PER_HOUR mails per address or account and hour."""
    limit: int = request.app.state.settings.mail_rate_limit_per_hour
    await enforce_rate_limit(
        request, scope=scope, subject=subject, limit=limit, window_seconds=3600
    )
