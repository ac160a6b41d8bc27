"""Registration, login sessions, refresh-token rotation with reuse detection, logout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.auth.denylist import TokenDenylist
from samplemind.auth.models import AuthSession, User
from samplemind.auth.passwords import (
    hash_password,
    hash_password_async,
    password_problem,
    verify_password_async,
)
from samplemind.auth.schemas import RegisterRequest, TokenPair
from samplemind.auth.tokens import InvalidToken, TokenClaims, decode_token, encode_token
from samplemind.core.config import Settings
from samplemind.core.errors import Conflict, Unauthorized, ValidationFailed

INVALID_CREDENTIALS = "Incorrect email or password"


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
    def __init__(self, settings: Settings, denylist: TokenDenylist) -> None:
        self.settings = settings
        self.denylist = denylist

    @property
    def access_lifetime(self) -> timedelta:
        return timedelta(minutes=self.settings.access_token_expire_minutes)

    @property
    def refresh_lifetime(self) -> timedelta:
        return timedelta(days=self.settings.refresh_token_expire_days)

    @cached_property
    def _dummy_hash(self) -> str:
        # Verified against for unknown emails so both failures take the same time.
        return hash_password(uuid.uuid4().hex, rounds=self.settings.bcrypt_rounds)

    async def register(self, db: AsyncSession, data: RegisterRequest) -> User:
        problem = password_problem(data.password, email=data.email)
        if problem:
            raise ValidationFailed(problem, code="weak_password")
        if await self._find_user(db, data.email) is not None:
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
            await db.commit()
        except IntegrityError as exc:  # a concurrent registration won the race
            await db.rollback()
            raise Conflict("An account with this email already exists", code="email_taken") from exc
        return user

    async def login(
        self, db: AsyncSession, *, email: str, password: str, client: ClientInfo
    ) -> TokenPair:
        user = await self._find_user(db, email)
        hashed = user.hashed_password if user is not None else self._dummy_hash
        password_ok = await verify_password_async(password, hashed)
        if user is None or not password_ok or not user.is_active:
            raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
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
        await db.commit()
        return pair

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
        if await self.denylist.is_revoked(claims.jti):
            raise Unauthorized("Token has been revoked", code="token_revoked")
        row = (
            await db.execute(
                select(User, AuthSession)
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(User.id == claims.user_id, AuthSession.id == claims.session_id)
            )
        ).first()
        if row is None:
            raise Unauthorized("Could not validate credentials", code="invalid_token")
        user, session = row
        if session.is_revoked:
            raise Unauthorized("Session has ended", code="session_revoked")
        if not user.is_active:
            raise Unauthorized("Account is disabled", code="inactive_user")
        return Authenticated(user=user, session=session, claims=claims)

    async def logout(self, db: AsyncSession, auth: Authenticated) -> None:
        await self._revoke_sessions(db, AuthSession.id == auth.session.id, reason="logout")
        await self.denylist.revoke(auth.claims.jti, expires_at=auth.claims.expires_at)

    async def logout_everywhere(self, db: AsyncSession, auth: Authenticated) -> int:
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

    async def _find_user(self, db: AsyncSession, email: str) -> User | None:
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
