"""User events (upload received, job progress, sample analysed or failed).

Published so that a client connected to ANY API process receives them: through Redis
pub/sub when configured, else through PostgreSQL NOTIFY, which is transactional, so an
event sent inside a transaction is delivered only if that transaction commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger(__name__)

PG_CHANNEL = "samplemind_events"
SUBSCRIBER_QUEUE_SIZE = 1000
RECONNECT_SECONDS = 1.0


def make_event(event_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "at": datetime.now(UTC).isoformat(), **fields}


def _encode(owner_id: uuid.UUID, event: dict[str, Any]) -> str:
    return json.dumps({"owner_id": str(owner_id), "event": event}, default=str)


OwnedEvent = tuple[uuid.UUID, dict[str, Any]]


class EventPublisher(Protocol):
    async def before_commit(self, db: AsyncSession, events: list[OwnedEvent]) -> None: ...

    async def after_commit(self, events: list[OwnedEvent]) -> None: ...


async def commit_with_events(
    db: AsyncSession, publisher: EventPublisher, events: list[OwnedEvent]
) -> None:
    """Commit ``db``; the events reach subscribers only if the commit succeeds."""
    await publisher.before_commit(db, events)
    await db.commit()
    await publisher.after_commit(events)


class RedisEventPublisher:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def channel(self, owner_id: uuid.UUID) -> str:
        return f"{self._prefix}:events:{owner_id}"

    async def before_commit(self, db: AsyncSession, events: list[OwnedEvent]) -> None:
        return None

    async def after_commit(self, events: list[OwnedEvent]) -> None:
        for owner_id, event in events:
            await self._redis.publish(self.channel(owner_id), json.dumps(event, default=str))


class PostgresEventPublisher:
    async def before_commit(self, db: AsyncSession, events: list[OwnedEvent]) -> None:
        for owner_id, event in events:
            await db.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": PG_CHANNEL, "payload": _encode(owner_id, event)},
            )

    async def after_commit(self, events: list[OwnedEvent]) -> None:
        return None


class EventHub(Protocol):
    def subscription(
        self, owner_id: uuid.UUID
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        """Registered on entry, so no event published after entering is missed."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class RedisEventHub:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._publisher = RedisEventPublisher(redis, prefix=prefix)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @contextlib.asynccontextmanager
    async def subscription(
        self, owner_id: uuid.UUID
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._publisher.channel(owner_id))
        try:
            yield self._messages(pubsub)
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    @staticmethod
    async def _messages(pubsub: Any) -> AsyncIterator[dict[str, Any]]:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                yield json.loads(message["data"])


class PostgresEventHub:
    """One LISTEN connection per API process, fanned out to its WebSocket clients.

    A lost connection (a database restart) is re-opened every ``RECONNECT_SECONDS``;
    events sent while it was down are not replayed, so clients refetch on reconnect.
    """

    def __init__(self, database_url: str) -> None:
        self._dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        self._connection: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._stopping = False
        self._queues: dict[uuid.UUID, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    async def start(self) -> None:
        self._stopping = False
        if not await self._listen():  # /health reports the database meanwhile
            self._reconnect_later()

    async def stop(self) -> None:
        self._stopping = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    async def _listen(self) -> bool:
        try:
            connection = await asyncpg.connect(self._dsn)
            await connection.add_listener(PG_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError):
            logger.warning("cannot listen for events; retrying", exc_info=True)
            return False
        connection.add_termination_listener(self._on_connection_lost)
        self._connection = connection
        return True

    def _on_connection_lost(self, _connection: object) -> None:
        self._connection = None
        if not self._stopping:
            logger.warning("lost the event connection; reconnecting")
            self._reconnect_later()

    def _reconnect_later(self) -> None:
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        while not self._stopping:
            await asyncio.sleep(RECONNECT_SECONDS)
            if await self._listen():
                return

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            owner_id = uuid.UUID(message["owner_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring malformed event payload")
            return
        for queue in self._queues.get(owner_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message["event"])

    @contextlib.asynccontextmanager
    async def subscription(
        self, owner_id: uuid.UUID
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self._queues[owner_id].add(queue)
        try:
            yield self._drain(queue)
        finally:
            self._queues[owner_id].discard(queue)
            if not self._queues[owner_id]:
                del self._queues[owner_id]

    @staticmethod
    async def _drain(queue: asyncio.Queue[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await queue.get()
