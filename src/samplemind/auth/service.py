"""Registration, login sessions (with an optional second factor), refresh-token rotation
with reuse detection, logout, password reset and email verification by mailed
single-use tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from sqlalchemy import and_, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from samplemind.audit.service import log_only, record, record_now
from samplemind.auth.denylist import TokenDenylist
from samplemind.auth.mail_tokens import TokenPurpose, new_mail_token, token_hash
from samplemind.auth.mails import password_reset_mail, verification_mail
from samplemind.auth.models import AuthSession, AuthToken, User
from samplemind.auth.passwords import (
    hash_password,
    hash_password_async,
    password_problem,
    verify_password_async,
)
from samplemind.auth.schemas import RegisterRequest, TokenPair
from samplemind.auth.tokens import InvalidToken, TokenClaims, decode_token, encode_token
from samplemind.auth.two_factor import SecondFactor, Setup, TwoFactor
from samplemind.core.background import DetachedTasks
from samplemind.core.config import Settings
from samplemind.core.errors import AppError, BadRequest, Conflict, Unauthorized, ValidationFailed
from samplemind.core.mail import Mail, Mailer

INVALID_CREDENTIALS = "Incorrect email or password"
INVALID_MAIL_TOKEN = "The link is invalid, has expired or was already used"  # noqa: S105
INVALID_OTP = "The two-factor code is wrong or was already used"


def _otp_required() -> Unauthorized:
    return Unauthorized(
        "Enter the code from your authenticator app (otp_code)", code="otp_required"
    )


@dataclass(frozen=True)
class ClientInfo:
    user_agent: str | None = None
    ip_address: str | None = None


@dataclass(frozen=True)
class Authenticated:
    user: User
    session: AuthSession
    claims: TokenClaims


class AuthService:
    def __init__(
        self,
        settings: Settings,
        denylist: TokenDenylist,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        mailer: Mailer,
        background: DetachedTasks,
    ) -> None:
        self.settings = settings
        self.denylist = denylist
        self.sessionmaker = sessionmaker
        self.mailer = mailer
        self.background = background

    @property
    def access_lifetime(self) -> timedelta:
        return timedelta(minutes=self.settings.access_token_expire_minutes)

    @property
    def refresh_lifetime(self) -> timedelta:
        return timedelta(days=self.settings.refresh_token_expire_days)

    @property
    def mail_token_lifetimes(self) -> dict[TokenPurpose, timedelta]:
        return {
            "password_reset": timedelta(minutes=self.settings.password_reset_expire_minutes),
            "email_verification": timedelta(hours=self.settings.email_verification_expire_hours),
        }

    @cached_property
    def two_factor(self) -> TwoFactor:
        return TwoFactor(self.settings.signing_key())

    @cached_property
    def _dummy_hash(self) -> str:
        # Verified against for unknown emails so both failures take the same time.
        return hash_password(uuid.uuid4().hex, rounds=self.settings.bcrypt_rounds)

    async def register(self, db: AsyncSession, data: RegisterRequest) -> User:
        problem = password_problem(data.password, email=data.email)
        if problem:
            raise ValidationFailed(problem, code="weak_password")
        if await self.find_user(db, data.email) is not None:
            raise Conflict("An account with this email already exists", code="email_taken")
        user = User(
            email=data.email,
            full_name=data.full_name,
            hashed_password=await hash_password_async(
                data.password, rounds=self.settings.bcrypt_rounds
            ),
        )
        db.add(user)
        try:
            await db.flush()
            token = await self._add_mail_token(db, user, "email_verification")
            record(db, "user.registered", user_id=user.id)
            await db.commit()
        except IntegrityError as exc:  # a concurrent registration won the race
            await db.rollback()
            raise Conflict("An account with this email already exists", code="email_taken") from exc
        self._send_later(
            verification_mail(self.settings, to=user.email, full_name=user.full_name, token=token)
        )
        return user

    # Password reset and email verification -------------------------------------------

    def request_password_reset(self, email: str) -> None:
        """Look the account up, store a token and mail it, all after the response: the
        request does the same work, in the same time, whether the account exists or not."""
        self.background.spawn(self._password_reset_job(email), name="password-reset-mail")

    async def _password_reset_job(self, email: str) -> None:
        async with self.sessionmaker() as db:
            user = await self.find_user(db, email)
            if user is None or not user.is_active:
                return
            token = await self._add_mail_token(db, user, "password_reset")
            record(db, "password.reset_requested", user_id=user.id)
            await db.commit()
        await self.mailer.send(
            password_reset_mail(self.settings, to=user.email, full_name=user.full_name, token=token)
        )

    async def confirm_password_reset(
        self, db: AsyncSession, *, token: str, new_password: str
    ) -> None:
        """Set the new password, use up every reset token of the user, end every session."""
        user = await self._take_mail_token(db, token, "password_reset")
        problem = password_problem(new_password, email=user.email)
        if problem:
            await db.rollback()  # the token stays usable for a better password
            raise ValidationFailed(problem, code="weak_password")
        user.hashed_password = await hash_password_async(
            new_password, rounds=self.settings.bcrypt_rounds
        )
        now = datetime.now(UTC)
        if user.email_verified_at is None:  # the mail reached its owner
            user.email_verified_at = now
        await self._use_up_mail_tokens(db, user, "password_reset", now)
        record(db, "password.reset", user_id=user.id)
        # The last step: it commits the new password, the used tokens and the ended sessions.
        await self._revoke_sessions(db, AuthSession.user_id == user.id, reason="password_reset")

    async def request_email_verification(self, db: AsyncSession, user: User) -> bool:
        """Mail a verification link; False (and no mail) when already verified."""
        if user.is_verified:
            return False
        token = await self._add_mail_token(db, user, "email_verification")
        record(db, "email.verification_requested", user_id=user.id)
        await db.commit()
        self._send_later(
            verification_mail(self.settings, to=user.email, full_name=user.full_name, token=token)
        )
        return True

    async def confirm_email_verification(self, db: AsyncSession, token: str) -> User:
        user = await self._take_mail_token(db, token, "email_verification")
        now = datetime.now(UTC)
        user.email_verified_at = user.email_verified_at or now
        await self._use_up_mail_tokens(db, user, "email_verification", now)
        record(db, "email.verified", user_id=user.id)
        await db.commit()
        return user

    async def _add_mail_token(self, db: AsyncSession, user: User, purpose: TokenPurpose) -> str:
        # Expired tokens (used or not) are of no use: each new one clears the user's.
        await db.execute(
            delete(AuthToken).where(AuthToken.user_id == user.id, AuthToken.expires_at < func.now())
        )
        token, stored_hash = new_mail_token()
        db.add(
            AuthToken(
                user_id=user.id,
                purpose=purpose,
                token_hash=stored_hash,
                sent_to=user.email,
                expires_at=datetime.now(UTC) + self.mail_token_lifetimes[purpose],
            )
        )
        return token

    async def _take_mail_token(self, db: AsyncSession, token: str, purpose: TokenPurpose) -> User:
        """The user of a usable token, its row locked until commit so it is used once."""
        row = (
            await db.execute(
                select(AuthToken, User)
                .join(User, User.id == AuthToken.user_id)
                .where(
                    AuthToken.token_hash == token_hash(token),
                    AuthToken.purpose == purpose,
                    AuthToken.used_at.is_(None),
                    AuthToken.expires_at > func.now(),
                )
                .with_for_update(of=AuthToken)
            )
        ).first()
        if row is None:
            raise BadRequest(INVALID_MAIL_TOKEN, code="invalid_token")
        stored, user = row
        # An address changed since the mail was sent, or a disabled account: not usable.
        if stored.sent_to.lower() != user.email.lower() or not user.is_active:
            raise BadRequest(INVALID_MAIL_TOKEN, code="invalid_token")
        return user

    async def _use_up_mail_tokens(
        self, db: AsyncSession, user: User, purpose: TokenPurpose, now: datetime
    ) -> None:
        await db.execute(
            update(AuthToken)
            .where(
                AuthToken.user_id == user.id,
                AuthToken.purpose == purpose,
                AuthToken.used_at.is_(None),
            )
            .values(used_at=now)
        )

    def _send_later(self, mail: Mail) -> None:
        self.background.spawn(self.mailer.send(mail), name="mail")

    async def login(
        self,
        db: AsyncSession,
        *,
        email: str,
        password: str,
        client: ClientInfo,
        otp_code: str | None = None,
    ) -> TokenPair:
        user = await self.find_user(db, email)
        hashed = user.hashed_password if user is not None else self._dummy_hash
        password_ok = await verify_password_async(password, hashed)
        if user is None or not password_ok or not user.is_active:
            self._record_failed_login(user, reason="inactive" if password_ok else "password")
            raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
        verified_hash = user.hashed_password
        second_factor = await self.login_second_factor(db, user, otp_code)
        return await self.start_session(
            db, user, client, second_factor=second_factor, verified_hash=verified_hash
        )

    async def login_second_factor(
        self, db: AsyncSession, user: User, otp_code: str | None
    ) -> SecondFactor | None:
        """With two-factor sign-in on, the code (used up); ``None`` when it is off."""
        if not user.two_factor_enabled:
            return None
        if not otp_code:
            raise _otp_required()
        return await self._second_factor(db, user, otp_code, wrong=Unauthorized)

    async def start_session(
        self,
        db: AsyncSession,
        user: User,
        client: ClientInfo,
        *,
        second_factor: SecondFactor | None,
        provider: str | None = None,
        verified_hash: str | None = None,
    ) -> TokenPair:
        """A new login session and its tokens, committed with the audit event.

        The user's row is read again under a share lock first, so a concurrent change
        that ends sessions (two-factor sign-in turned on, a password reset, the account
        disabled) cannot miss this one: either it commits first and this login is
        refused, or it waits and then ends this session too.
        """
        await self._recheck_user(db, user, second_factor=second_factor, verified_hash=verified_hash)
        session = AuthSession(
            user_id=user.id,
            refresh_jti=uuid.uuid4(),
            expires_at=datetime.now(UTC) + self.refresh_lifetime,
            user_agent=(client.user_agent or "")[:400] or None,
            ip_address=client.ip_address,
        )
        db.add(session)
        await db.flush()
        pair = self._issue_pair(session)
        details: dict[str, str | None] = {
            "session_id": str(session.id),
            "second_factor": second_factor,
        }
        if provider is not None:
            details["provider"] = provider
        record(db, "login.succeeded", user_id=user.id, **details)
        await db.commit()
        return pair

    async def _recheck_user(
        self,
        db: AsyncSession,
        user: User,
        *,
        second_factor: SecondFactor | None,
        verified_hash: str | None,
    ) -> None:
        current = (
            await db.execute(
                select(User.hashed_password, User.totp_enabled_at, User.is_active)
                .where(User.id == user.id)
                .with_for_update(read=True)
            )
        ).one()
        if not current.is_active or (
            verified_hash is not None and current.hashed_password != verified_hash
        ):
            raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
        if current.totp_enabled_at is not None and second_factor is None:
            raise _otp_required()

    def _record_failed_login(self, user: User | None, *, reason: str) -> None:
        """After the response, and for unknown emails too (log only), so a failed login
        takes the same time whether or not the account exists."""
        if user is None:  # no account to show a row to: the log only
            self.background.spawn(log_only("login.failed", reason="unknown_email"), name="audit")
            return
        self.background.spawn(
            record_now(self.sessionmaker, "login.failed", user_id=user.id, reason=reason),
            name="audit",
        )

    # Two-factor sign-in ---------------------------------------------------------------

    async def begin_two_factor_setup(self, db: AsyncSession, user: User, password: str) -> Setup:
        await self._check_password(user, password)
        return await self.two_factor.begin_setup(db, user)

    async def enable_two_factor(
        self, db: AsyncSession, auth: Authenticated, code: str
    ) -> list[str]:
        """On, with the app's first code; every other session of the user ends (one
        opened with a stolen password would otherwise outlive the second factor), in the
        same transaction."""
        codes = await self.two_factor.enable(db, auth.user, code)
        await self._revoke_sessions(  # commits
            db,
            and_(AuthSession.user_id == auth.user.id, AuthSession.id != auth.session.id),
            reason="two_factor_enabled",
        )
        return codes

    async def disable_two_factor(
        self, db: AsyncSession, user: User, *, password: str, code: str
    ) -> None:
        await self._check_password(user, password)
        self._require_two_factor(user)
        await self._second_factor(db, user, code, wrong=BadRequest)
        await self.two_factor.disable(db, user)

    async def regenerate_recovery_codes(self, db: AsyncSession, user: User, code: str) -> list[str]:
        self._require_two_factor(user)
        await self._second_factor(db, user, code, wrong=BadRequest)
        return await self.two_factor.regenerate_recovery_codes(db, user)

    async def _second_factor(
        self, db: AsyncSession, user: User, code: str, *, wrong: type[AppError]
    ) -> SecondFactor:
        used = await self.two_factor.verify(db, user, code)
        if used is None:
            raise wrong(INVALID_OTP, code="invalid_otp")
        return used

    @staticmethod
    def _require_two_factor(user: User) -> None:
        if not user.two_factor_enabled:
            raise Conflict("Two-factor sign-in is off", code="two_factor_disabled")

    async def _check_password(self, user: User, password: str) -> None:
        """For changes to the account's security: the password, entered again (a wrong
        one is recorded, in its own transaction, since the request's rolls back)."""
        if not await verify_password_async(password, user.hashed_password):
            await record_now(self.sessionmaker, "password.confirmation_failed", user_id=user.id)
            raise BadRequest("Incorrect password", code="invalid_password")

    async def refresh(self, db: AsyncSession, refresh_token: str) -> TokenPair:
        claims = self._decode(refresh_token, "refresh")
        session = await db.scalar(
            select(AuthSession).where(AuthSession.id == claims.session_id).with_for_update()
        )
        if session is None or session.user_id != claims.user_id or session.is_revoked:
            raise Unauthorized("Session has ended", code="session_revoked")
        if session.refresh_jti != claims.jti:
            session.revoked_at = datetime.now(UTC)
            session.revoked_reason = "refresh_reuse"
            record(
                db, "session.refresh_reused", user_id=session.user_id, session_id=str(session.id)
            )
            await db.commit()
            raise Unauthorized(
                "Refresh token was already used; the session has been ended",
                code="refresh_token_reused",
            )
        user = await db.get(User, session.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("Session has ended", code="session_revoked")
        session.refresh_jti = uuid.uuid4()
        session.last_used_at = datetime.now(UTC)
        pair = self._issue_pair(session)
        await db.commit()
        return pair

    async def authenticate(self, db: AsyncSession, access_token: str) -> Authenticated:
        claims = self._decode(access_token, "access")
        revoked = self.denylist.revoked_condition(claims.jti)
        if revoked is None and await self.denylist.is_revoked(claims.jti):
            raise Unauthorized("Token has been revoked", code="token_revoked")
        row = (
            await db.execute(
                select(User, AuthSession, revoked if revoked is not None else literal(False))
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(User.id == claims.user_id, AuthSession.id == claims.session_id)
            )
        ).first()
        if row is None:  # a revoked token still says so, as when it was checked first
            if revoked is not None and await self.denylist.is_revoked(claims.jti):
                raise Unauthorized("Token has been revoked", code="token_revoked")
            raise Unauthorized("Could not validate credentials", code="invalid_token")
        user, session, token_revoked = row
        if token_revoked:
            raise Unauthorized("Token has been revoked", code="token_revoked")
        if session.is_revoked:
            raise Unauthorized("Session has ended", code="session_revoked")
        if not user.is_active:
            raise Unauthorized("Account is disabled", code="inactive_user")
        return Authenticated(user=user, session=session, claims=claims)

    async def logout(self, db: AsyncSession, auth: Authenticated) -> None:
        record(db, "session.logout", user_id=auth.user.id, session_id=str(auth.session.id))
        await self._revoke_sessions(db, AuthSession.id == auth.session.id, reason="logout")
        await self.denylist.revoke(auth.claims.jti, expires_at=auth.claims.expires_at)

    async def logout_everywhere(self, db: AsyncSession, auth: Authenticated) -> int:
        record(db, "session.logout_all", user_id=auth.user.id)
        ended = await self._revoke_sessions(
            db, AuthSession.user_id == auth.user.id, reason="logout_all"
        )
        await self.denylist.revoke(auth.claims.jti, expires_at=auth.claims.expires_at)
        return ended

    async def active_sessions(self, db: AsyncSession, user_id: uuid.UUID) -> list[AuthSession]:
        result = await db.scalars(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > datetime.now(UTC),
            )
            .order_by(AuthSession.created_at.desc())
        )
        return list(result)

    async def _revoke_sessions(self, db: AsyncSession, condition: object, *, reason: str) -> int:
        result = await db.execute(
            update(AuthSession)
            .where(condition, AuthSession.revoked_at.is_(None))  # type: ignore[arg-type]
            .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
        )
        await db.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def find_user(self, db: AsyncSession, email: str) -> User | None:
        found: User | None = await db.scalar(
            select(User).where(func.lower(User.email) == email.strip().lower())
        )
        return found

    def _issue_pair(self, session: AuthSession) -> TokenPair:
        key = self.settings.signing_key()
        access, _ = encode_token(
            user_id=session.user_id,
            session_id=session.id,
            token_type="access",  # noqa: S106
            lifetime=self.access_lifetime,
            key=key,
        )
        refresh, _ = encode_token(
            user_id=session.user_id,
            session_id=session.id,
            token_type="refresh",  # noqa: S106
            lifetime=self.refresh_lifetime,
            key=key,
            jti=session.refresh_jti,
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=int(self.access_lifetime.total_seconds()),
        )

    def _decode(self, token: str, expected: str) -> TokenClaims:
        try:
            return decode_token(
                token,
                key=self.settings.signing_key(),
                expected_type="access" if expected == "access" else "refresh",
            )
        except InvalidToken as exc:
            code = "token_expired" if "expired" in str(exc) else "invalid_token"
            raise Unauthorized(str(exc), code=code) from exc
