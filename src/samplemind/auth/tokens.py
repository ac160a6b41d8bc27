"""HS256 JWTs with ``sub``, ``type``, ``jti``, ``sid``, ``iat`` and ``exp``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "type", "jti", "sid", "iat", "exp"]
TokenType = Literal["access", "refresh"]


class InvalidToken(Exception):
    """The token is malformed, tampered with, expired or of the wrong type."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    jti: uuid.UUID
    type: TokenType
    issued_at: datetime
    expires_at: datetime


def encode_token(
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    token_type: TokenType,
    lifetime: timedelta,
    key: str,
    jti: uuid.UUID | None = None,
    now: datetime | None = None,
) -> tuple[str, TokenClaims]:
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = TokenClaims(
        user_id=user_id,
        session_id=session_id,
        jti=jti or uuid.uuid4(),
        type=token_type,
        issued_at=issued,
        expires_at=issued + lifetime,
    )
    payload = {
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": str(claims.jti),
        "type": token_type,
        "iat": issued,
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM), claims


def decode_token(token: str, *, key: str, expected_type: TokenType) -> TokenClaims:
    """Verify signature, algorithm, expiry and type; raise :class:`InvalidToken` otherwise."""
    try:
        payload = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("Token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("Token is invalid") from exc
    if payload["type"] != expected_type:
        raise InvalidToken(f"Expected an {expected_type} token")
    try:
        return TokenClaims(
            user_id=uuid.UUID(payload["sub"]),
            session_id=uuid.UUID(payload["sid"]),
            jti=uuid.UUID(payload["jti"]),
            type=expected_type,
            issued_at=datetime.fromtimestamp(payload["iat"], UTC),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidToken("Token is invalid") from exc
