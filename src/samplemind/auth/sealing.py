"""Secrets at rest (two-factor secrets): AES-256-GCM under a key derived from the
server's secret key, bound to the row they belong to.

A database dump alone does not give away a user's second factor. Changing
SAMPLEMIND_SECRET_KEY makes sealed values unreadable, as it ends every session: users
with two-factor sign-in then sign in with a recovery code and set it up again.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_VERSION = "v1"


class UnsealError(Exception):
    """The value was sealed under another key or for another row, or was altered."""


def _key(secret_key: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=f"samplemind {purpose} {_VERSION}".encode(),
    ).derive(secret_key.encode())


def seal(plaintext: bytes, *, secret_key: str, purpose: str, bound_to: str) -> str:
    """``v1.<base64url(nonce + ciphertext + tag)>``; ``bound_to`` (a row id) is
    authenticated with it, so a sealed value copied to another row does not open."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(_key(secret_key, purpose)).encrypt(nonce, plaintext, bound_to.encode())
    return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def unseal(value: str, *, secret_key: str, purpose: str, bound_to: str) -> bytes:
    version, _, payload = value.partition(".")
    if version != _VERSION:
        raise UnsealError(f"unknown sealing version {version!r}")
    try:
        raw = base64.urlsafe_b64decode(payload.encode("ascii"))
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        return AESGCM(_key(secret_key, purpose)).decrypt(nonce, sealed, bound_to.encode())
    except (InvalidTag, ValueError) as exc:
        raise UnsealError("the sealed value does not open with this key") from exc
