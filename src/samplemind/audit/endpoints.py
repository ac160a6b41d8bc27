"""``/api/v1/audit``: the current user's own audit trail."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query

from samplemind.audit.schemas import AuditEventPage, AuditEventRead
from samplemind.audit.service import EventName, events_of
from samplemind.auth.dependencies import CurrentUser, DbSession
from samplemind.core.errors import error_responses

router = APIRouter(prefix="/audit", tags=["audit"])

MAX_PAGE = 10_000


@router.get("/events", response_model=AuditEventPage, responses=error_responses(401, 422))
async def list_events(
    user: CurrentUser,
    db: DbSession,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    event: Annotated[EventName | None, Query(description="Only events of this name")] = None,
) -> AuditEventPage:
    """Sign-ins (and failed attempts), sessions ended, password and two-factor changes,
    deleted samples: newest first, with the address and user agent they came from."""
    found = await events_of(
        db, user.id, offset=(page - 1) * page_size, limit=page_size, event=event
    )
    return AuditEventPage(
        items=[AuditEventRead.model_validate(row) for row in found.events],
        total=found.total,
        page=page,
        page_size=page_size,
        pages=math.ceil(found.total / page_size) if found.total else 0,
    )
