"""Request counters per key over a window that starts at the key's first request:
in Redis when configured, else in this process."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol

from redis.asyncio import Redis


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        """Count one request; return seconds to wait when over ``limit``, else None."""
        ...


class RedisRateLimiter:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:ratelimit:"

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        redis_key = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, window_seconds, nx=True)
            pipe.ttl(redis_key)
            count, _, ttl = await pipe.execute()
        if int(count) > limit:
            return max(1, int(ttl))
        return None


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = asyncio.Lock()

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        now = time.monotonic()
        async with self._lock:
            started, count = self._windows.get(key, (now, 0))
            if now - started >= window_seconds:
                started, count = now, 0
            self._windows[key] = (started, count + 1)
            if len(self._windows) > 10_000:
                self._forget_expired(now, window_seconds)
        if count + 1 > limit:
            return max(1, math.ceil(started + window_seconds - now))
        return None

    def _forget_expired(self, now: float, window_seconds: int) -> None:
        self._windows = {
            key: value for key, value in self._windows.items() if now - value[0] < window_seconds
        }
