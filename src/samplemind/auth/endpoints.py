"""``/api/v1/auth``: register, login, refresh, logout, me, sessions, password reset,
email verification, two-factor sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from samplemind.auth.dependencies import (
    AuthServiceDep,
    CurrentAuth,
    CurrentUser,
    DbSession,
    RateLimitedByClient,
    client_info,
    enforce_mail_rate_limit,
    enforce_rate_limit,
)
from samplemind.auth.schemas import (
    EmailVerificationConfirm,
    LoginRequest,
    Message,
    PasswordResetConfirm,
    PasswordResetRequest,
    RecoveryCodes,
    RefreshRequest,
    RegisterRequest,
    SessionRead,
    TokenPair,
    TwoFactorCode,
    TwoFactorDisableRequest,
    TwoFactorSetup,
    TwoFactorSetupRequest,
    TwoFactorStatus,
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
        db,
        email=body.email,
        password=body.password,
        client=client_info(request),
        otp_code=body.otp_code,
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


RESET_MAIL_SENT = (
    "If an account with this email exists, a link to reset its password has been sent to it"
)


@router.post(
    "/password-reset/request",
    response_model=Message,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[RateLimitedByClient],
    responses=error_responses(422, 429),
)
async def request_password_reset(
    body: PasswordResetRequest, request: Request, service: AuthServiceDep
) -> Message:
    """Mail a single-use reset link. The answer is the same whether or not the account
    exists, and the mail is sent after it."""
    email = body.email.strip().lower()
    await enforce_rate_limit(request, scope="password-reset-email", subject=email)
    await enforce_mail_rate_limit(request, scope="password-reset-mail", subject=email)
    service.request_password_reset(email)
    return Message(message=RESET_MAIL_SENT)


@router.post(
    "/password-reset/confirm",
    response_model=Message,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 422, 429),
)
async def confirm_password_reset(
    body: PasswordResetConfirm, db: DbSession, service: AuthServiceDep
) -> Message:
    """Set a new password with the mailed token; every session of the account ends."""
    await service.confirm_password_reset(db, token=body.token, new_password=body.new_password)
    return Message(message="Password has been reset; sign in with the new password")


@router.post(
    "/verify-email/request",
    response_model=Message,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[RateLimitedByClient],
    responses=error_responses(401, 429),
)
async def request_email_verification(
    request: Request, user: CurrentUser, db: DbSession, service: AuthServiceDep
) -> Message:
    """Mail a new verification link to the current user (nothing when already verified)."""
    if user.is_verified:
        return Message(message="Email address is already verified")
    await enforce_mail_rate_limit(request, scope="verify-email-mail", subject=str(user.id))
    await service.request_email_verification(db, user)
    return Message(message=f"A verification link has been sent to {user.email}")


@router.post(
    "/verify-email/confirm",
    response_model=Message,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 422, 429),
)
async def confirm_email_verification(
    body: EmailVerificationConfirm, db: DbSession, service: AuthServiceDep
) -> Message:
    """Mark the email address verified with the mailed token."""
    await service.confirm_email_verification(db, body.token)
    return Message(message="Email address verified")


@router.get("/2fa", response_model=TwoFactorStatus, responses=error_responses(401))
async def two_factor_status(
    user: CurrentUser, db: DbSession, service: AuthServiceDep
) -> TwoFactorStatus:
    left = await service.two_factor.unused_recovery_codes(db, user)
    return TwoFactorStatus(
        enabled=user.two_factor_enabled, enabled_at=user.totp_enabled_at, recovery_codes_left=left
    )


@router.post(
    "/2fa/setup",
    response_model=TwoFactorSetup,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 401, 409, 422, 429),
)
async def begin_two_factor_setup(
    body: TwoFactorSetupRequest,
    request: Request,
    user: CurrentUser,
    db: DbSession,
    service: AuthServiceDep,
) -> TwoFactorSetup:
    """Step 1 (password entered again): a new secret for the authenticator app. Sign-in
    does not change until step 2 confirms a code."""
    await enforce_rate_limit(request, scope="password-confirm", subject=str(user.id))
    setup = await service.begin_two_factor_setup(db, user, body.password)
    return TwoFactorSetup(secret=setup.secret, otpauth_uri=setup.otpauth_uri)


@router.post(
    "/2fa/enable",
    response_model=RecoveryCodes,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 401, 409, 422, 429),
)
async def enable_two_factor(
    body: TwoFactorCode, auth: CurrentAuth, db: DbSession, service: AuthServiceDep
) -> RecoveryCodes:
    """Step 2: the app's current code turns two-factor sign-in on, and ends every other
    session. The answer holds the recovery codes, shown only this once."""
    return RecoveryCodes(recovery_codes=await service.enable_two_factor(db, auth, body.code))


@router.post(
    "/2fa/disable",
    response_model=Message,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 401, 409, 422, 429),
)
async def disable_two_factor(
    body: TwoFactorDisableRequest,
    request: Request,
    user: CurrentUser,
    db: DbSession,
    service: AuthServiceDep,
) -> Message:
    """Turn two-factor sign-in off: the password and a current or recovery code."""
    await enforce_rate_limit(request, scope="password-confirm", subject=str(user.id))
    await service.disable_two_factor(db, user, password=body.password, code=body.code)
    return Message(message="Two-factor sign-in is off")


@router.post(
    "/2fa/recovery-codes",
    response_model=RecoveryCodes,
    dependencies=[RateLimitedByClient],
    responses=error_responses(400, 401, 409, 422, 429),
)
async def regenerate_recovery_codes(
    body: TwoFactorCode, user: CurrentUser, db: DbSession, service: AuthServiceDep
) -> RecoveryCodes:
    """New recovery codes (a current or recovery code needed); the old ones stop working."""
    codes = await service.regenerate_recovery_codes(db, user, body.code)
    return RecoveryCodes(recovery_codes=codes)
