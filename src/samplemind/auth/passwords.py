"""Password hashing (bcrypt) and strength rules."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from importlib import resources

import bcrypt

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_BYTES = 72  # bcrypt ignores anything past 72 bytes; refuse rather than truncate


@lru_cache
def common_passwords() -> frozenset[str]:
    text = resources.files("samplemind.auth").joinpath("common_passwords.txt").read_text()
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problem(password: str, *, email: str) -> str | None:
    """Why ``password`` is unacceptable, or None when it is fine."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return f"Password must be at most {MAX_PASSWORD_BYTES} bytes"
    lowered = password.lower()
    if lowered == email.lower() or lowered == email.split("@")[0].lower():
        return "Password must not be your email address"
    if lowered in common_passwords():
        return "Password is too common"
    return None


def hash_password(password: str, *, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


async def hash_password_async(password: str, *, rounds: int) -> str:
    return await asyncio.to_thread(hash_password, password, rounds=rounds)


async def verify_password_async(password: str, hashed: str) -> bool:
    return await asyncio.to_thread(verify_password, password, hashed)
