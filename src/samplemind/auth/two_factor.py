"""Two-factor sign-in with an authenticator app (TOTP), and single-use recovery codes.

Setup is two steps: ``begin_setup`` (password re-entered) stores a pending secret and
shows it; ``enable`` turns it on once the app's first code matches, and hands out the
recovery codes, once. From then on every login, disabling two-factor sign-in and new
recovery codes need a current code or an unused recovery code.

Guessing: a code is tried only after the right password, each step's code is accepted
once, and every ``MAX_FAILURES`` wrong codes in a row lock the second factor, for
``LOCK_MINUTES`` and twice as long at each further lock (at most ``MAX_LOCK_HOURS``),
until a right code; the counter is stored on the user, so it holds across processes.
Recovery codes carry 79 random bits and are stored as SHA-256 of the user id and the
code, so a database dump does not give them away.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.audit.service import record
from samplemind.auth import totp
from samplemind.auth.models import RecoveryCode, User
from samplemind.auth.sealing import UnsealError, seal, unseal
from samplemind.core.errors import BadRequest, Conflict, RateLimited

MAX_FAILURES = 5
LOCK_MINUTES = 15
MAX_LOCK_HOURS = 24
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # 31 symbols: no 0/o, 1/l/i
_RECOVERY_GROUPS, _RECOVERY_GROUP = 4, 4  # 16 symbols: 79 bits
_ACTIVE, _PENDING = "totp secret", "totp pending secret"

SecondFactor = Literal["totp", "recovery_code"]


@dataclass(frozen=True)
class Setup:
    secret: str  # base32, for typing into the app
    otpauth_uri: str  # for a QR code


def new_recovery_codes() -> list[str]:
    """``RECOVERY_CODE_COUNT`` codes like ``k7mq-x2c9-pz4t-h8wd`` (79 random bits each)."""
    return [
        "-".join(
            "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP))
            for _ in range(_RECOVERY_GROUPS)
        )
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def recovery_code_hash(code: str, *, user_id: uuid.UUID) -> str:
    """SHA-256 of the user id and the code as typed, ignoring case, spaces and dashes
    (salted by the user: one guess tests one account's codes only)."""
    normalised = "".join(code.lower().split()).replace("-", "")
    return hashlib.sha256(f"{user_id}:{normalised}".encode()).hexdigest()


def _require_off(user: User) -> None:
    if user.two_factor_enabled:
        raise Conflict("Two-factor sign-in is already on", code="two_factor_enabled")


def lock_duration(failures: int) -> timedelta:
    """How long the ``failures // MAX_FAILURES``-th lock lasts: doubling, capped."""
    locks = failures // MAX_FAILURES
    minutes = LOCK_MINUTES * 2 ** min(locks - 1, 16)
    return min(timedelta(minutes=minutes), timedelta(hours=MAX_LOCK_HOURS))


class TwoFactor:
    def __init__(self, secret_key: str) -> None:
        self._secret_key = secret_key

    async def begin_setup(self, db: AsyncSession, user: User) -> Setup:
        """A new pending secret (replacing an unconfirmed one); the caller checked the
        password."""
        _require_off(user)
        secret = totp.new_secret()
        user.totp_pending_secret = self._seal(secret, user, _PENDING)
        record(db, "two_factor.setup_started", user_id=user.id)
        await db.commit()
        return Setup(
            secret=totp.to_base32(secret),
            otpauth_uri=totp.provisioning_uri(secret, account=user.email),
        )

    async def enable(self, db: AsyncSession, user: User, code: str) -> list[str]:
        """Turn two-factor sign-in on with the app's first code; returns the recovery codes.
        The caller commits (with whatever else the change ends)."""
        await db.refresh(user, with_for_update=True)
        _require_off(user)
        if user.totp_pending_secret is None:
            raise BadRequest("Start the setup first", code="no_pending_setup")
        secret = self._unseal(user.totp_pending_secret, user, _PENDING)
        step = totp.matching_step(secret, code, unix_time=time.time(), after=None)
        if step is None:
            raise BadRequest("The code does not match; check the app's clock", code="invalid_otp")
        user.totp_secret = self._seal(secret, user, _ACTIVE)
        user.totp_pending_secret = None
        user.totp_enabled_at = datetime.now(UTC)
        user.totp_last_step = step
        user.totp_failures = 0
        user.totp_locked_until = None
        codes = await self._replace_recovery_codes(db, user)
        record(db, "two_factor.enabled", user_id=user.id)
        return codes

    async def disable(self, db: AsyncSession, user: User) -> None:
        """Turn it off; the caller checked the password and a second factor."""
        user.totp_secret = None
        user.totp_pending_secret = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        user.totp_failures = 0
        user.totp_locked_until = None
        await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        record(db, "two_factor.disabled", user_id=user.id)
        await db.commit()

    async def regenerate_recovery_codes(self, db: AsyncSession, user: User) -> list[str]:
        """New codes; the old ones stop working. The caller checked a second factor."""
        codes = await self._replace_recovery_codes(db, user)
        record(db, "two_factor.recovery_codes_regenerated", user_id=user.id)
        await db.commit()
        return codes

    async def verify(self, db: AsyncSession, user: User, code: str) -> SecondFactor | None:
        """Check a current code or an unused recovery code, and use it up.

        The user's row is locked until the caller commits, so one code cannot pass
        twice concurrently. A wrong code is counted and committed at once; at
        ``MAX_FAILURES`` the second factor locks (429 until it opens again).
        """
        await db.refresh(user, with_for_update=True)
        if user.totp_secret is None:
            return None
        now = datetime.now(UTC)
        if user.totp_locked_until is not None and user.totp_locked_until > now:
            retry_after = max(1, int((user.totp_locked_until - now).total_seconds()))
            await db.rollback()
            raise RateLimited(
                retry_after,
                message="Too many wrong two-factor codes; try again later",
                code="two_factor_locked",
            )
        found = await self._use_code(db, user, code)
        if found is None:
            user.totp_failures += 1
            record(db, "two_factor.failed", user_id=user.id, failures=user.totp_failures)
            if user.totp_failures % MAX_FAILURES == 0:
                duration = lock_duration(user.totp_failures)
                user.totp_locked_until = now + duration
                minutes = int(duration.total_seconds() // 60)
                record(db, "two_factor.locked", user_id=user.id, minutes=minutes)
            await db.commit()
            return None
        user.totp_failures = 0
        user.totp_locked_until = None
        return found

    async def unused_recovery_codes(self, db: AsyncSession, user: User) -> int:
        rows = await db.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
        return len(list(rows))

    async def _use_code(self, db: AsyncSession, user: User, code: str) -> SecondFactor | None:
        secret = self._active_secret(user)
        step = (
            None
            if secret is None
            else totp.matching_step(secret, code, unix_time=time.time(), after=user.totp_last_step)
        )
        if step is not None:
            user.totp_last_step = step
            return "totp"
        if await self._use_recovery_code(db, user, code):
            record(db, "two_factor.recovery_code_used", user_id=user.id)
            return "recovery_code"
        return None

    async def _use_recovery_code(self, db: AsyncSession, user: User, code: str) -> bool:
        wanted = recovery_code_hash(code, user_id=user.id)
        unused = list(
            await db.scalars(
                select(RecoveryCode).where(
                    RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
                )
            )
        )
        # Compare with every unused code, in constant time, so timing tells nothing.
        matches = [row for row in unused if hmac.compare_digest(row.code_hash, wanted)]
        if not matches:
            return False
        await db.execute(
            update(RecoveryCode)
            .where(RecoveryCode.id == matches[0].id)
            .values(used_at=datetime.now(UTC))
        )
        return True

    async def _replace_recovery_codes(self, db: AsyncSession, user: User) -> list[str]:
        await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        codes = new_recovery_codes()
        db.add_all(
            RecoveryCode(user_id=user.id, code_hash=recovery_code_hash(c, user_id=user.id))
            for c in codes
        )
        return codes

    def _seal(self, secret: bytes, user: User, purpose: str) -> str:
        return seal(secret, secret_key=self._secret_key, purpose=purpose, bound_to=str(user.id))

    def _active_secret(self, user: User) -> bytes | None:
        """The app's secret; ``None`` when sealed under an earlier SAMPLEMIND_SECRET_KEY
        (then only a recovery code signs in)."""
        if user.totp_secret is None:
            return None
        try:
            return unseal(
                user.totp_secret,
                secret_key=self._secret_key,
                purpose=_ACTIVE,
                bound_to=str(user.id),
            )
        except UnsealError:
            return None

    def _unseal(self, sealed: str, user: User, purpose: str) -> bytes:
        try:
            return unseal(
                sealed, secret_key=self._secret_key, purpose=purpose, bound_to=str(user.id)
            )
        except UnsealError as exc:  # sealed under an earlier SAMPLEMIND_SECRET_KEY
            raise BadRequest(
                "The setup was started under another server key; start it again",
                code="no_pending_setup",
            ) from exc
