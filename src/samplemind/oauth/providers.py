"""OpenID Connect providers: discovery, the code exchange (with PKCE), ID token checks.

A provider is an issuer URL and a client registered there. Its endpoints and signing
keys come from ``{issuer}/.well-known/openid-configuration``, fetched on first use and
kept for an hour (the keys are fetched again at once when a token names an unknown
key, as after a rotation).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from samplemind.core.config import Settings

logger = logging.getLogger(__name__)

GOOGLE_ISSUER = "https://accounts.google.com"
_ISSUER_ALIASES = {GOOGLE_ISSUER: ("accounts.google.com",)}  # Google may drop the scheme
_MAX_SUBJECT, _MAX_EMAIL = 255, 320
SCOPES = "openid email profile"
_DISCOVERY_TTL_SECONDS = 3600.0
_HTTP_TIMEOUT_SECONDS = 10.0
_CLOCK_SKEW_SECONDS = 60
_ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


class ProviderError(Exception):
    """The provider refused, was unreachable, or answered something we cannot trust."""


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


@dataclass
class OidcProvider:
    name: str
    issuer: str
    client_id: str
    client_secret: str
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _jwks: dict[str, Any] | None = field(default=None, repr=False)
    _fetched_at: float = field(default=0.0, repr=False)

    async def authorization_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_verifier: str,
        login_hint: str | None,
    ) -> str:
        metadata = await self._discover()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(code_verifier),
            "code_challenge_method": "S256",
        }
        if login_hint:
            params["login_hint"] = login_hint
        return f"{metadata['authorization_endpoint']}?{urlencode(params)}"

    async def identity(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> Identity:
        """Exchange the code, check the ID token, read the user's claims."""
        metadata = await self._discover()
        tokens = await self._post_form(
            metadata["token_endpoint"],
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
        )
        if "id_token" not in tokens or "access_token" not in tokens:
            raise ProviderError("the token response has no ID token")
        claims = await self.verified_id_token(str(tokens["id_token"]), nonce=nonce)
        if "userinfo_endpoint" in metadata:
            info = await self._get_json(metadata["userinfo_endpoint"], str(tokens["access_token"]))
            if info.get("sub") != claims["sub"]:
                raise ProviderError("the userinfo answer is about another account")
            claims = {**claims, **info}
        email = claims.get("email")
        subject = str(claims["sub"])
        if not 0 < len(subject) <= _MAX_SUBJECT or (email and len(str(email)) > _MAX_EMAIL):
            raise ProviderError("the account's subject or email is too long")
        if not all(_storable(value) for value in (subject, email, claims.get("name")) if value):
            raise ProviderError("the account's claims hold characters we cannot store")
        return Identity(
            subject=subject,
            email=str(email) if email else None,
            email_verified=claims.get("email_verified") in (True, "true"),
            name=str(claims["name"])[:200] if claims.get("name") else None,
        )

    async def verified_id_token(self, token: str, *, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError) as exc:  # ValueError: not encodable text
            raise ProviderError(f"the ID token is malformed: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm not in _ALLOWED_ALGORITHMS:
            raise ProviderError(f"the ID token is signed with {algorithm!r}")
        problem = "the provider has no key for it"
        for key in await self._signing_keys(header.get("kid")):
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key=key,
                    algorithms=[algorithm],
                    audience=self.client_id,
                    issuer=[self.issuer, *_ISSUER_ALIASES.get(self.issuer, ())],
                    leeway=_CLOCK_SKEW_SECONDS,
                    options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                )
            except (
                jwt.PyJWTError,
                TypeError,
                ValueError,
            ) as exc:  # TypeError: a key of another kind
                problem = str(exc)
                continue
            self._check_claims(claims, nonce=nonce)
            return claims
        raise ProviderError(f"the ID token does not check out: {problem}")

    def _check_claims(self, claims: dict[str, Any], *, nonce: str) -> None:
        if claims.get("nonce") != nonce:
            raise ProviderError("the ID token was issued for another sign-in (nonce)")
        audience = claims["aud"]
        several = isinstance(audience, list) and len(audience) > 1
        if (several or "azp" in claims) and claims.get("azp") != self.client_id:
            raise ProviderError("the ID token was issued to another client (azp)")

    async def _signing_keys(self, kid: str | None) -> list[Any]:
        """The keys that may have signed a token naming ``kid`` (all of them without a
        kid); the key set is fetched again once when none matches (a rotation)."""
        for refresh in (False, True):
            keys = []
            for candidate in (await self._key_set(refresh=refresh)).get("keys", []):
                if not isinstance(candidate, dict) or candidate.get("use") == "enc":
                    continue
                if kid is not None and candidate.get("kid") != kid:
                    continue
                try:
                    keys.append(jwt.PyJWK.from_dict(candidate).key)
                except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                    continue  # a key of a kind we do not use
            if keys:
                return keys
        raise ProviderError(f"the provider has no signing key {kid!r}")

    async def _key_set(self, *, refresh: bool) -> dict[str, Any]:
        if self._jwks is None or refresh or self._stale():
            metadata = await self._discover()
            jwks = await self._get_json(metadata["jwks_uri"])
            if not isinstance(jwks.get("keys"), list):
                raise ProviderError("the provider's key set has no keys")
            self._jwks = jwks
        return self._jwks

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is None or self._stale():
            url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
            metadata = await self._get_json(url)
            if metadata.get("issuer") != self.issuer:
                raise ProviderError("the discovery document names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(metadata.get(key), str):
                    raise ProviderError(f"the discovery document has no {key}")
            if not isinstance(metadata.get("userinfo_endpoint", ""), str):
                raise ProviderError("the discovery document's userinfo_endpoint is not a URL")
            self._metadata, self._jwks, self._fetched_at = metadata, None, time.monotonic()
        return self._metadata

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at > _DISCOVERY_TTL_SECONDS

    async def _get_json(self, url: str, bearer: str | None = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return await self._request("GET", url, headers=headers)

    async def _post_form(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        return await self._request(
            "POST",
            url,
            data=form,
            auth=(self.client_id, self.client_secret),
            headers={"Accept": "application/json"},
        )

    async def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT_SECONDS) as client:
                response = await client.request(method, url, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as exc:
            # ValueError, TypeError: a URL or header value the provider sent is unusable
            raise ProviderError(f"{url} is unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ProviderError(f"{url} answered {response.status_code}")
        try:
            body = response.json()
        except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, absurdly nested
            raise ProviderError(f"{url} answered something other than JSON") from exc
        if not isinstance(body, dict):
            raise ProviderError(f"{url} answered something other than a JSON object")
        return body


def _storable(value: object) -> bool:
    """Text PostgreSQL can store: valid UTF-8 (no lone surrogates), no NUL."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def configured_providers(settings: Settings) -> dict[str, OidcProvider]:
    """The providers with a client configured, by name."""
    providers: dict[str, OidcProvider] = {}
    if settings.oauth_google_client_id and settings.oauth_google_client_secret:
        providers["google"] = OidcProvider(
            name="google",
            issuer=GOOGLE_ISSUER,
            client_id=settings.oauth_google_client_id,
            client_secret=settings.oauth_google_client_secret.get_secret_value(),
        )
    if (
        settings.oauth_oidc_issuer
        and settings.oauth_oidc_client_id
        and settings.oauth_oidc_client_secret
    ):
        providers[settings.oauth_oidc_name] = OidcProvider(
            name=settings.oauth_oidc_name,
            issuer=settings.oauth_oidc_issuer,
            client_id=settings.oauth_oidc_client_id,
            client_secret=settings.oauth_oidc_client_secret.get_secret_value(),
        )
    if providers and not settings.oauth_redirect_uris:
        logger.warning(
            "sign-in providers %s are configured but SAMPLEMIND_OAUTH_REDIRECT_URIS is empty:"
            " every sign-in will be refused (invalid_redirect)",
            ", ".join(sorted(providers)),
        )
    return providers
