"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), as authenticator apps
(Google Authenticator, 1Password, Aegis, …) compute them: HMAC-SHA1, 6 digits, 30 s.

Secrets are 20 random bytes (RFC 4226's recommended 160 bits), shown to the user in
base32 and as an ``otpauth://`` URI for a QR code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

DIGITS = 6
STEP_SECONDS = 30
WINDOW_STEPS = 1
"""Codes of the previous and the next step are accepted too (clock drift, typing time)."""
SECRET_BYTES = 20
ISSUER = "SampleMind"


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def to_base32(secret: bytes) -> str:
    """The secret as authenticator apps take it: base32 without padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def hotp(secret: bytes, counter: int, *, digits: int = DIGITS) -> str:
    """RFC 4226 HOTP value of ``counter`` (dynamic truncation), zero padded."""
    if counter < 0:
        raise ValueError(f"counter must be >= 0, got {counter}")
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def time_step(unix_time: float) -> int:
    """The RFC 6238 counter of a moment: whole 30 s steps since the Unix epoch."""
    return int(unix_time // STEP_SECONDS)


def matching_step(secret: bytes, code: str, *, unix_time: float, after: int | None) -> int | None:
    """The time step whose code is ``code``, within ``WINDOW_STEPS`` of ``unix_time``
    and later than ``after`` (a step already used cannot be replayed); else ``None``.

    Every candidate is compared in constant time.
    """
    candidate = "".join(code.split())
    if len(candidate) != DIGITS or not candidate.isdigit():
        return None
    now = time_step(unix_time)
    found = None
    for step in range(now - WINDOW_STEPS, now + WINDOW_STEPS + 1):
        matches = hmac.compare_digest(hotp(secret, step).encode(), candidate.encode())
        if matches and (after is None or step > after) and found is None:
            found = step
    return found


def provisioning_uri(secret: bytes, *, account: str, issuer: str = ISSUER) -> str:
    """``otpauth://totp/Issuer:account?secret=…&issuer=…`` (the Key URI Format)."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": to_base32(secret),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"
