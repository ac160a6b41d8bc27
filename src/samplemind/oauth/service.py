"""Sign-in with an OpenID Connect provider, for an API whose clients are web apps.

1. ``start``: the browser goes to ``/auth/oauth/{provider}/start?redirect_to=…``; we
   store the sign-in (hashed ``state``, PKCE verifier, nonce, where to return) and send
   the browser to the provider.
2. ``callback``: the provider sends the browser back with a code; we exchange it, check
   the ID token, find or create the user, and send the browser to ``redirect_to`` with
   a one-time login code (valid ``LOGIN_CODE_MINUTES``), or with ``error=…``.
3. ``exchange``: the web app posts the login code (and ``otp_code`` when the account
   has two-factor sign-in on) and gets the usual token pair.

Tokens never travel in a URL. An account is found by its linked provider identity;
else by the provider's *verified* email, which links it; else one is created (its
email verified, with a random password nobody knows: password reset sets one).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.audit.service import record
from samplemind.auth.models import User
from samplemind.auth.passwords import hash_password_async
from samplemind.auth.schemas import TokenPair
from samplemind.auth.service import AuthService, ClientInfo
from samplemind.core.config import Settings
from samplemind.core.errors import BadRequest, NotFound, ValidationFailed
from samplemind.oauth.models import OAuthIdentity, OAuthLogin
from samplemind.oauth.providers import Identity, OidcProvider, ProviderError

START_MINUTES = 10
LOGIN_CODE_MINUTES = 2
INVALID_LOGIN_CODE = "The login code is invalid, has expired or was already used"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SignInFailed(Exception):
    """Ends the sign-in with ``error=<code>`` on the way back to the web app."""

    def __init__(self, code: str, redirect_to: str) -> None:
        super().__init__(code)
        self.code = code
        self.redirect_to = redirect_to


class OAuthService:
    def __init__(
        self, settings: Settings, providers: dict[str, OidcProvider], auth: AuthService
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.auth = auth

    def provider(self, name: str) -> OidcProvider:
        found = self.providers.get(name)
        if found is None:
            raise NotFound(f"No sign-in provider {name!r} is configured", code="unknown_provider")
        return found

    def callback_url(self, name: str) -> str:
        return f"{self.settings.effective_public_url}/api/v1/auth/oauth/{name}/callback"

    def allowed_origins(self) -> set[str]:
        origins = self.settings.oauth_redirect_origins or [
            *self.settings.cors_origins,
            self.settings.effective_public_url,
        ]
        return {_origin(origin) for origin in origins} - {""}

    async def start(
        self, db: AsyncSession, name: str, *, redirect_to: str, login_hint: str | None
    ) -> str:
        """The provider's authorization URL for a new sign-in."""
        provider = self.provider(name)
        if len(redirect_to) > 2048 or _origin(redirect_to) not in self.allowed_origins():
            raise ValidationFailed(
                "redirect_to must be a page of an allowed origin (OAUTH_REDIRECT_ORIGINS)",
                code="invalid_redirect",
            )
        state, verifier, nonce = (secrets.token_urlsafe(n) for n in (32, 48, 24))
        db.add(
            OAuthLogin(
                provider=name,
                state_hash=_hash(state),
                code_verifier=verifier,
                nonce=nonce,
                redirect_to=redirect_to,
                expires_at=datetime.now(UTC) + timedelta(minutes=START_MINUTES),
            )
        )
        try:
            url = await provider.authorization_url(
                redirect_uri=self.callback_url(name),
                state=state,
                nonce=nonce,
                code_verifier=verifier,
                login_hint=login_hint,
            )
        except ProviderError as exc:
            raise BadRequest(f"The provider is unavailable: {exc}", code="provider_error") from exc
        await db.commit()
        return url

    async def callback(
        self,
        db: AsyncSession,
        name: str,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
    ) -> str:
        """Where to send the browser: ``redirect_to`` with ``code=`` or ``error=``."""
        provider = self.provider(name)
        login = await self._pending(db, name, state)
        login_id = login.id
        try:
            user = await self._signed_in_user(db, provider, login, code=code, error=error)
        except SignInFailed:
            # Nothing of it is kept, but the sign-in is used up: a state works once.
            await db.rollback()
            await db.execute(
                update(OAuthLogin).where(OAuthLogin.id == login_id).values(expires_at=func.now())
            )
            await db.commit()
            raise
        login_code = secrets.token_urlsafe(32)
        login.user_id = user.id
        login.login_code_hash = _hash(login_code)
        login.expires_at = datetime.now(UTC) + timedelta(minutes=LOGIN_CODE_MINUTES)
        await db.commit()
        return with_query(login.redirect_to, code=login_code)

    async def _signed_in_user(
        self,
        db: AsyncSession,
        provider: OidcProvider,
        login: OAuthLogin,
        *,
        code: str | None,
        error: str | None,
    ) -> User:
        if error or not code:
            raise SignInFailed("access_denied" if error else "invalid_request", login.redirect_to)
        try:
            identity = await provider.identity(
                code=code,
                redirect_uri=self.callback_url(provider.name),
                code_verifier=login.code_verifier,
                nonce=login.nonce,
            )
        except ProviderError as exc:
            raise SignInFailed("provider_error", login.redirect_to) from exc
        return await self._user_for(db, provider.name, identity, login.redirect_to)

    async def exchange(
        self, db: AsyncSession, *, code: str, otp_code: str | None, client: ClientInfo
    ) -> TokenPair:
        row = (
            await db.execute(
                select(OAuthLogin, User)
                .join(User, User.id == OAuthLogin.user_id)
                .where(
                    OAuthLogin.login_code_hash == _hash(code),
                    OAuthLogin.completed_at.is_(None),
                    OAuthLogin.expires_at > func.now(),
                )
                .with_for_update(of=OAuthLogin)
            )
        ).first()
        if row is None or not row[1].is_active:
            raise BadRequest(INVALID_LOGIN_CODE, code="invalid_code")
        login, user = row
        second_factor = await self.auth.login_second_factor(db, user, otp_code)
        login.completed_at = datetime.now(UTC)
        return await self.auth.start_session(
            db, user, client, second_factor=second_factor, provider=login.provider
        )

    async def _pending(self, db: AsyncSession, name: str, state: str | None) -> OAuthLogin:
        """The sign-in this callback belongs to, used up (a state works once)."""
        login = None
        if state:
            login = await db.scalar(
                select(OAuthLogin)
                .where(
                    OAuthLogin.state_hash == _hash(state),
                    OAuthLogin.provider == name,
                    OAuthLogin.login_code_hash.is_(None),
                    OAuthLogin.completed_at.is_(None),
                    OAuthLogin.expires_at > func.now(),
                )
                .with_for_update()
            )
        if login is None:
            raise BadRequest(
                "This sign-in is unknown, has expired or was already used; start again",
                code="invalid_state",
            )
        return login

    async def _user_for(
        self, db: AsyncSession, name: str, identity: Identity, redirect_to: str
    ) -> User:
        linked = await db.scalar(
            select(User)
            .join(OAuthIdentity, OAuthIdentity.user_id == User.id)
            .where(OAuthIdentity.provider == name, OAuthIdentity.subject == identity.subject)
        )
        if linked is not None:
            if not linked.is_active:
                raise SignInFailed("account_disabled", redirect_to)
            return linked
        if not identity.email or not identity.email_verified:
            raise SignInFailed("email_not_verified", redirect_to)
        user = await db.scalar(
            select(User).where(func.lower(User.email) == identity.email.strip().lower())
        )
        created = user is None
        if user is None:
            user = await self._new_user(db, identity)
        elif not user.is_active:
            raise SignInFailed("account_disabled", redirect_to)
        db.add(
            OAuthIdentity(
                user_id=user.id, provider=name, subject=identity.subject, email=identity.email
            )
        )
        record(db, "oauth.linked", user_id=user.id, provider=name, created_account=created)
        return user

    async def _new_user(self, db: AsyncSession, identity: Identity) -> User:
        assert identity.email is not None
        password = await hash_password_async(
            secrets.token_urlsafe(32), rounds=self.settings.bcrypt_rounds
        )
        user = User(
            id=uuid.uuid4(),
            email=identity.email,
            full_name=identity.name,
            hashed_password=password,
            email_verified_at=datetime.now(UTC),
        )
        db.add(user)
        await db.flush()
        record(db, "user.registered", user_id=user.id, via="oauth")
        return user


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc.lower()}"


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query (any fragment dropped)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
