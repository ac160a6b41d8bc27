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
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger(__name__)

PG_CHANNEL = "samplemind_events"
SUBSCRIBER_QUEUE_SIZE = 1000
RECONNECT_SECONDS = 1.0
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
RESUMED_EVENT = "events.resumed"


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


def redis_channel_prefix(prefix: str) -> str:
    """Each owner's events go to ``<prefix>:events:<owner id>``."""
    return f"{prefix}:events:"


class RedisEventPublisher:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def channel(self, owner_id: uuid.UUID) -> str:
        return f"{redis_channel_prefix(self._prefix)}{owner_id}"

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


class _LocalFanOut:
    """The WebSocket clients of one API process, each with its own queue, by owner."""

    def __init__(self) -> None:
        self._queues: dict[uuid.UUID, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    def _deliver(self, owner_id: uuid.UUID, event: dict[str, Any]) -> None:
        for queue in self._queues.get(owner_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    def _announce_resumed(self) -> None:
        """Tell every client that events may have been missed while the feed was down."""
        for owner_id in list(self._queues):
            self._deliver(owner_id, make_event(RESUMED_EVENT))

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


class RedisEventHub(_LocalFanOut):
    """One pattern subscription per API process, fanned out to its WebSocket clients.

    A lost Redis connection is re-opened every ``RECONNECT_SECONDS``; once it is back,
    every client gets an ``events.resumed`` event, since events sent meanwhile are lost.
    """

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        super().__init__()
        self._redis = redis
        self._channel_prefix = redis_channel_prefix(prefix)
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())
        with contextlib.suppress(TimeoutError):  # /health reports Redis meanwhile
            await asyncio.wait_for(self._subscribed.wait(), SUBSCRIBE_TIMEOUT_SECONDS)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def _read_forever(self) -> None:
        connected_before = False
        while True:
            try:
                await self._read(announce_resumed=connected_before)
            except (RedisError, OSError):
                logger.warning("lost the Redis event subscription; reconnecting", exc_info=True)
            connected_before = connected_before or self._subscribed.is_set()
            self._subscribed.clear()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _read(self, *, announce_resumed: bool) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.psubscribe(self._channel_prefix + "*")
            async for message in pubsub.listen():
                if message["type"] == "psubscribe":
                    self._subscribed.set()
                    if announce_resumed:
                        self._announce_resumed()
                elif message["type"] == "pmessage":
                    self._on_message(message["channel"], message["data"])

    def _on_message(self, channel: bytes, data: bytes) -> None:
        try:
            owner_id = uuid.UUID(channel.decode().removeprefix(self._channel_prefix))
            event = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            logger.warning("ignoring malformed event on %r", channel)
            return
        self._deliver(owner_id, event)


class PostgresEventHub(_LocalFanOut):
    """One LISTEN connection per API process, fanned out to its WebSocket clients.

    A lost connection (a database restart) is re-opened every ``RECONNECT_SECONDS``;
    once it is back, every client gets an ``events.resumed`` event, since events sent
    meanwhile are lost.
    """

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        self._connection: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._stopping = False

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
                self._announce_resumed()
                return

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
            owner_id = uuid.UUID(message["owner_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring malformed event payload")
            return
        self._deliver(owner_id, message["event"])
