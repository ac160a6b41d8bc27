"""Single-use tokens sent by mail: 32 random bytes, URL-safe; only the SHA-256 is stored.

The database finds a token by its hash (a unique index), so no comparison ever runs on
the secret itself and response times say nothing about how close a guess was.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

TokenPurpose = Literal["password_reset", "email_verification"]
TOKEN_BYTES = 32


def new_mail_token() -> tuple[str, str]:
    """A fresh token and the hash to store for it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """SHA-256 (hex) of a single-use token: what is stored and looked up, for mailed
    tokens and for the OAuth state and login codes alike."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
