"""``/api/v1/auth/oauth``: sign-in with an OpenID Connect provider (see ``service``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from samplemind.auth.dependencies import DbSession, RateLimitedByClient, client_info
from samplemind.auth.schemas import TokenPair
from samplemind.core.errors import error_responses
from samplemind.oauth.schemas import LoginCodeExchange, ProviderRead
from samplemind.oauth.service import OAuthService, SignInFailed, with_fragment

router = APIRouter(prefix="/auth/oauth", tags=["auth"])


def get_oauth_service(request: Request) -> OAuthService:
    service: OAuthService = request.app.state.oauth_service
    return service


OAuthServiceDep = Annotated[OAuthService, Depends(get_oauth_service)]


@router.get("/providers", response_model=list[ProviderRead])
async def providers(service: OAuthServiceDep) -> list[ProviderRead]:
    """The providers this server is configured for (none by default)."""
    return [
        ProviderRead(name=name, start_url=f"/api/v1/auth/oauth/{name}/start")
        for name in sorted(service.providers)
    ]


@router.get(
    "/{provider}/start",
    status_code=302,
    response_class=RedirectResponse,
    dependencies=[RateLimitedByClient],
    responses=error_responses(404, 422, 429, 503),
)
async def start(
    provider: str,
    db: DbSession,
    service: OAuthServiceDep,
    redirect_to: Annotated[str, Query(max_length=2048, description="Your page to come back to")],
    code_challenge: Annotated[
        str,
        Query(
            max_length=128,
            description="S256 of a code_verifier your page keeps for POST /auth/oauth/exchange",
        ),
    ],
    login_hint: Annotated[str | None, Query(max_length=320)] = None,
) -> RedirectResponse:
    """Sends the browser to the provider; it comes back to ``redirect_to`` with
    ``#code=`` (for ``POST /auth/oauth/exchange``) or ``#error=``."""
    url = await service.start(
        db, provider, redirect_to=redirect_to, code_challenge=code_challenge, login_hint=login_hint
    )
    return RedirectResponse(url, status_code=302)


@router.get(
    "/{provider}/callback",
    status_code=302,
    response_class=RedirectResponse,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 404, 429),
)
async def callback(
    provider: str,
    db: DbSession,
    service: OAuthServiceDep,
    state: Annotated[str | None, Query(max_length=256)] = None,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> RedirectResponse:
    """Where the provider returns the browser to (register this URL with it)."""
    try:
        url = await service.callback(db, provider, state=state, code=code, error=error)
    except SignInFailed as failed:
        url = with_fragment(failed.redirect_to, error=failed.code)
    return RedirectResponse(url, status_code=302)


@router.post(
    "/exchange",
    response_model=TokenPair,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 401, 422, 429),
)
async def exchange(
    body: LoginCodeExchange, request: Request, db: DbSession, service: OAuthServiceDep
) -> TokenPair:
    """The login code from ``redirect_to`` and the page's ``code_verifier`` for the usual
    token pair (once, within 2 minutes)."""
    return await service.exchange(
        db,
        code=body.code,
        code_verifier=body.code_verifier,
        otp_code=body.otp_code,
        client=client_info(request),
    )
