"""Recording audit events, and reading a user's own trail.

An event is added to the caller's database session, so it commits (or rolls back) with
the change it describes. Each one is also logged to the ``samplemind.audit`` logger,
for operators who ship logs elsewhere.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from samplemind.audit.context import current_client
from samplemind.audit.models import AuditEvent

logger = logging.getLogger("samplemind.audit")

EventName = Literal[
    "user.registered",
    "login.succeeded",
    "login.failed",
    "session.logout",
    "session.logout_all",
    "session.refresh_reused",
    "password.confirmation_failed",
    "password.reset_requested",
    "password.reset",
    "email.verification_requested",
    "email.verified",
    "two_factor.setup_started",
    "two_factor.enabled",
    "two_factor.disabled",
    "two_factor.recovery_codes_regenerated",
    "two_factor.recovery_code_used",
    "two_factor.failed",
    "two_factor.locked",
    "oauth.linked",
    "sample.deleted",
]
EVENT_NAMES: tuple[str, ...] = get_args(EventName)


def record(
    db: AsyncSession, event: EventName, *, user_id: uuid.UUID | None, **details: Any
) -> None:
    """Add ``event`` of ``user_id`` (with the current request's client) to ``db``."""
    client = current_client()
    db.add(
        AuditEvent(
            user_id=user_id,
            event=event,
            ip_address=client.ip_address,
            user_agent=client.user_agent,
            details=details,
        )
    )
    _log(event, user_id, details)


async def log_only(event: EventName, **details: Any) -> None:
    """The log line of an event without a row (nobody's account to show it in)."""
    _log(event, None, details)


def _log(event: str, user_id: uuid.UUID | None, details: dict[str, Any]) -> None:
    logger.info("audit %s user=%s ip=%s %s", event, user_id, current_client().ip_address, details)


async def record_now(
    sessionmaker: async_sessionmaker[AsyncSession],
    event: EventName,
    *,
    user_id: uuid.UUID | None,
    **details: Any,
) -> None:
    """:func:`record` in a session and transaction of its own: for failures, whose
    request rolls back."""
    async with sessionmaker() as db:
        record(db, event, user_id=user_id, **details)
        await db.commit()


@dataclass(frozen=True)
class EventsPage:
    events: list[AuditEvent]
    total: int


async def events_of(
    db: AsyncSession,
    user_id: uuid.UUID,
    *,
    offset: int,
    limit: int,
    event: str | None = None,
) -> EventsPage:
    """The user's own events, newest first."""
    conditions = [AuditEvent.user_id == user_id]
    if event is not None:
        conditions.append(AuditEvent.event == event)
    total = await db.scalar(select(func.count()).select_from(AuditEvent).where(*conditions))
    rows = await db.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return EventsPage(events=list(rows), total=int(total or 0))
