"""Sign-in with an OpenID Connect provider, for an API whose clients are web apps.

1. ``start``: the web app makes a PKCE pair of its own (``code_verifier``, kept in the
   page; ``code_challenge`` = S256 of it) and sends the browser to
   ``/auth/oauth/{provider}/start?redirect_to=…&code_challenge=…`` (``redirect_to``
   one of ``OAUTH_REDIRECT_URIS``, exactly). We store the
   sign-in (hashed ``state``, our PKCE verifier towards the provider, the nonce, the
   web app's challenge, where to return) and send the browser to the provider.
2. ``callback``: the provider sends the browser back with a code. We use the sign-in
   up (a state works once), exchange the code, check the ID token, find or create the
   user, and send the browser to ``redirect_to#code=<login code>`` (valid
   ``LOGIN_CODE_MINUTES``), or ``redirect_to#error=<reason>``.
3. ``exchange``: the web app posts the login code with its ``code_verifier`` (and
   ``otp_code`` when the account has two-factor sign-in on) and gets the usual token
   pair. The verifier binds the code to the page that started the sign-in, so a login
   code (or a provider callback) planted in another browser signs nobody in (login
   CSRF); the code travels in the fragment, which no server or log sees.

Accounts: by the linked provider identity; else, when the provider says the email is
verified, by an account whose email is verified too (linked); else a new account
(email verified, a random password nobody knows: password reset sets one). An account
whose email was never verified is not linked: whoever registered it might not own it.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.audit.service import record
from samplemind.auth.mail_tokens import token_hash
from samplemind.auth.models import User
from samplemind.auth.passwords import hash_password_async
from samplemind.auth.schemas import TokenPair
from samplemind.auth.service import AuthService, ClientInfo
from samplemind.core.config import Settings
from samplemind.core.errors import BadRequest, NotFound, ServiceUnavailable, ValidationFailed
from samplemind.oauth.models import OAuthIdentity, OAuthLogin
from samplemind.oauth.providers import Identity, OidcProvider, ProviderError, pkce_challenge

logger = logging.getLogger(__name__)

START_MINUTES = 10
LOGIN_CODE_MINUTES = 2
KEEP_DEAD_ROWS = timedelta(hours=1)  # expired sign-ins are deleted this long after
INVALID_LOGIN_CODE = "The login code is invalid, has expired or was already used"
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256, no padding


class SignInFailed(Exception):
    """Ends the sign-in with ``#error=<code>`` on the way back to the web app."""

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

    def allowed_redirects(self) -> set[str]:
        return {_normalised(uri) for uri in self.settings.oauth_redirect_uris} - {""}

    async def start(
        self,
        db: AsyncSession,
        name: str,
        *,
        redirect_to: str,
        code_challenge: str,
        login_hint: str | None,
    ) -> str:
        """The provider's authorization URL for a new sign-in."""
        provider = self.provider(name)
        redirect_to = self._checked_redirect(redirect_to)
        if not _CHALLENGE.fullmatch(code_challenge):
            raise ValidationFailed(
                "code_challenge must be the S256 challenge of the web app's code_verifier",
                code="invalid_challenge",
            )
        state, verifier, nonce = (secrets.token_urlsafe(n) for n in (32, 48, 24))
        try:
            url = await provider.authorization_url(
                redirect_uri=self.callback_url(name),
                state=state,
                nonce=nonce,
                code_verifier=verifier,
                login_hint=login_hint,
            )
        except ProviderError as exc:
            logger.warning("sign-in with %s cannot start: %s", name, exc)
            raise ServiceUnavailable(
                "The sign-in provider is unavailable", code="provider_unavailable"
            ) from exc
        dead = (
            select(OAuthLogin.id)
            .where(OAuthLogin.expires_at < func.now() - KEEP_DEAD_ROWS)
            .limit(100)
            .with_for_update(skip_locked=True)  # two starts never wait on each other
        )
        await db.execute(delete(OAuthLogin).where(OAuthLogin.id.in_(dead)))
        db.add(
            OAuthLogin(
                provider=name,
                state_hash=token_hash(state),
                code_verifier=verifier,
                client_challenge=code_challenge,
                nonce=nonce,
                redirect_to=redirect_to,
                expires_at=func.now() + timedelta(minutes=START_MINUTES),  # the database's clock
            )
        )
        await db.commit()
        return url

    def _checked_redirect(self, redirect_to: str) -> str:
        normalised = _normalised(redirect_to)
        if not normalised or normalised not in self.allowed_redirects():
            raise ValidationFailed(
                "redirect_to must be one of the pages in OAUTH_REDIRECT_URIS, exactly",
                code="invalid_redirect",
            )
        return normalised

    async def callback(
        self,
        db: AsyncSession,
        name: str,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
    ) -> str:
        """Where to send the browser: ``redirect_to#code=…`` or ``#error=…``.

        The sign-in is used up in a transaction of its own before the provider is
        called, so no row lock or connection is held across the provider's answers.
        """
        provider = self.provider(name)
        login = await self._take(db, name, state)
        login_id, redirect_to = login.id, login.redirect_to  # a rollback expires `login`
        try:
            identity = await self._identity(provider, login, code=code, error=error)
            user = await self._user_for(db, name, identity, redirect_to)
            login_code = secrets.token_urlsafe(32)
            stored = await db.execute(
                update(OAuthLogin)
                .where(OAuthLogin.id == login_id)
                .values(
                    user_id=user.id,
                    login_code_hash=token_hash(login_code),
                    expires_at=func.now() + timedelta(minutes=LOGIN_CODE_MINUTES),
                )
            )
            if stored.rowcount != 1:  # type: ignore[attr-defined]
                raise SignInFailed("try_again", redirect_to)
            await db.commit()
        except IntegrityError as exc:  # a concurrent first sign-in made the account
            await db.rollback()
            logger.info("sign-in with %s raced another: try again", name)
            raise SignInFailed("try_again", redirect_to) from exc
        except SignInFailed as failed:
            await db.rollback()
            logger.info("sign-in with %s failed: %s", name, failed.code)
            raise
        return with_fragment(redirect_to, code=login_code)

    async def exchange(
        self,
        db: AsyncSession,
        *,
        code: str,
        code_verifier: str,
        otp_code: str | None,
        client: ClientInfo,
    ) -> TokenPair:
        row = (
            await db.execute(
                select(OAuthLogin, User)
                .join(User, User.id == OAuthLogin.user_id)
                .where(
                    OAuthLogin.login_code_hash == token_hash(code),
                    OAuthLogin.completed_at.is_(None),
                    OAuthLogin.expires_at > func.now(),
                )
                .with_for_update(of=OAuthLogin)
            )
        ).first()
        if row is None or not row[1].is_active:
            raise BadRequest(INVALID_LOGIN_CODE, code="invalid_code")
        login, user = row
        if not hmac.compare_digest(pkce_challenge(code_verifier), login.client_challenge):
            raise BadRequest(INVALID_LOGIN_CODE, code="invalid_code")
        second_factor = await self.auth.login_second_factor(db, user, otp_code)
        login.completed_at = datetime.now(UTC)
        return await self.auth.start_session(
            db, user, client, second_factor=second_factor, provider=login.provider
        )

    async def _take(self, db: AsyncSession, name: str, state: str | None) -> OAuthLogin:
        """The sign-in this callback belongs to, used up and committed."""
        login: OAuthLogin | None = None
        if state:
            login = await db.scalar(
                update(OAuthLogin)
                .where(
                    OAuthLogin.state_hash == token_hash(state),
                    OAuthLogin.provider == name,
                    OAuthLogin.taken_at.is_(None),
                    OAuthLogin.expires_at > func.now(),
                )
                .values(taken_at=func.clock_timestamp())
                .returning(OAuthLogin)
            )
        await db.commit()
        if login is None:
            raise BadRequest(
                "This sign-in is unknown, has expired or was already used; start again",
                code="invalid_state",
            )
        return login

    async def _identity(
        self, provider: OidcProvider, login: OAuthLogin, *, code: str | None, error: str | None
    ) -> Identity:
        if error or not code:
            raise SignInFailed("access_denied" if error else "invalid_request", login.redirect_to)
        try:
            return await provider.identity(
                code=code,
                redirect_uri=self.callback_url(provider.name),
                code_verifier=login.code_verifier,
                nonce=login.nonce,
            )
        except ProviderError as exc:
            logger.warning("sign-in with %s: %s", provider.name, exc)
            raise SignInFailed("provider_error", login.redirect_to) from exc

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
        user = await self.auth.find_user(db, identity.email)
        created = user is None
        if user is None:
            user = await self._new_user(db, identity)
        elif not user.is_verified:
            raise SignInFailed("email_in_use", redirect_to)
        elif not user.is_active:
            raise SignInFailed("account_disabled", redirect_to)
        db.add(
            OAuthIdentity(
                user_id=user.id, provider=name, subject=identity.subject, email=identity.email
            )
        )
        await db.flush()
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


def _normalised(url: str) -> str:
    """``scheme://host[:port]/path`` of an absolute http(s) URL without query, fragment,
    user info or control characters; ``""`` for anything else."""
    url = url.strip()
    if len(url) > 2048 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return ""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # the port is checked on access
    except ValueError:  # "http://[", an invalid port, …
        return ""
    if parts.scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return ""
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return ""
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", "", ""))


def with_fragment(url: str, **params: str) -> str:
    """``url`` with ``params`` as its fragment (``#code=…``), which browsers keep from
    servers and their logs."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, urlencode(params)))
