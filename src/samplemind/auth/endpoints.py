"""``/api/v1/auth``: register, login, refresh, logout, me, sessions."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from samplemind.auth.dependencies import (
    AuthServiceDep,
    CurrentAuth,
    CurrentUser,
    DbSession,
    RateLimitedByClient,
    client_info,
    enforce_rate_limit,
)
from samplemind.auth.schemas import (
    LoginRequest,
    Message,
    RefreshRequest,
    RegisterRequest,
    SessionRead,
    TokenPair,
    UserRead,
)
from samplemind.core.errors import error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 409, 422, 429),
)
async def register(body: RegisterRequest, db: DbSession, service: AuthServiceDep) -> UserRead:
    user = await service.register(db, body)
    return UserRead.model_validate(user)


@router.post(
    "/login",
    response_model=TokenPair,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 401, 422, 429),
)
async def login(
    body: LoginRequest, request: Request, db: DbSession, service: AuthServiceDep
) -> TokenPair:
    await enforce_rate_limit(request, scope="login-email", subject=body.email.strip().lower())
    return await service.login(
        db, email=body.email, password=body.password, client=client_info(request)
    )


@router.post(
    "/refresh",
    response_model=TokenPair,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 401, 422, 429),
)
async def refresh(body: RefreshRequest, db: DbSession, service: AuthServiceDep) -> TokenPair:
    return await service.refresh(db, body.refresh_token)


@router.post("/logout", response_model=Message, responses=error_responses(401))
async def logout(auth: CurrentAuth, db: DbSession, service: AuthServiceDep) -> Message:
    """End this login session: its access and refresh tokens stop working at once."""
    await service.logout(db, auth)
    return Message(message="Successfully logged out")


@router.post("/logout-all", response_model=Message, responses=error_responses(401))
async def logout_all(auth: CurrentAuth, db: DbSession, service: AuthServiceDep) -> Message:
    """End every login session of the current user."""
    ended = await service.logout_everywhere(db, auth)
    return Message(message=f"Logged out of {ended} session(s)")


@router.get("/me", response_model=UserRead, responses=error_responses(401))
async def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.get("/sessions", response_model=list[SessionRead], responses=error_responses(401))
async def sessions(auth: CurrentAuth, db: DbSession, service: AuthServiceDep) -> list[SessionRead]:
    rows = await service.active_sessions(db, auth.user.id)
    return [
        SessionRead.model_validate(row).model_copy(update={"current": row.id == auth.session.id})
        for row in rows
    ]
