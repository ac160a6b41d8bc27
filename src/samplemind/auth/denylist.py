"""Revoked access-token ids: in Redis (TTL = remaining life) or in PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import ColumnElement, delete, exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from samplemind.auth.models import RevokedToken


class TokenDenylist(Protocol):
    async def revoke(self, jti: uuid.UUID, *, expires_at: datetime) -> None: ...

    async def is_revoked(self, jti: uuid.UUID) -> bool: ...

    def revoked_condition(self, jti: uuid.UUID) -> ColumnElement[bool] | None:
        """The test of ``is_revoked`` as SQL, for a query of the caller's to carry (one
        round trip fewer), when the denylist lives in the application's database."""
        ...


class RedisDenylist:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:revoked-jti:"

    async def revoke(self, jti: uuid.UUID, *, expires_at: datetime) -> None:
        remaining = int((expires_at - datetime.now(UTC)).total_seconds()) + 1
        if remaining > 0:
            await self._redis.set(self._prefix + str(jti), b"1", ex=remaining)

    async def is_revoked(self, jti: uuid.UUID) -> bool:
        return bool(await self._redis.exists(self._prefix + str(jti)))

    def revoked_condition(self, jti: uuid.UUID) -> ColumnElement[bool] | None:
        return None


class PostgresDenylist:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def revoke(self, jti: uuid.UUID, *, expires_at: datetime) -> None:
        async with self._sessionmaker() as session:
            await session.execute(
                delete(RevokedToken).where(RevokedToken.expires_at < datetime.now(UTC))
            )
            await session.execute(
                insert(RevokedToken).values(jti=jti, expires_at=expires_at).on_conflict_do_nothing()
            )
            await session.commit()

    async def is_revoked(self, jti: uuid.UUID) -> bool:
        async with self._sessionmaker() as session:
            return bool(await session.scalar(select(self.revoked_condition(jti))))

    def revoked_condition(self, jti: uuid.UUID) -> ColumnElement[bool]:
        return exists().where(RevokedToken.jti == jti)
