"""``/api/v1/jobs/{id}`` and the ``/api/v1/ws`` event stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from samplemind.auth.dependencies import CurrentUser, DbSession
from samplemind.auth.service import AuthService
from samplemind.core.errors import AppError, NotFound, error_responses
from samplemind.jobs.events import EventHub, make_event
from samplemind.jobs.models import Job
from samplemind.samples.schemas import JobRead

router = APIRouter(tags=["jobs"])
AUTH_TIMEOUT_SECONDS = 10.0
CLOSE_UNAUTHORIZED = 4401


@router.get(
    "/jobs/{job_id}",
    response_model=JobRead,
    responses=error_responses(401, 404),
)
async def get_job(job_id: uuid.UUID, user: CurrentUser, db: DbSession) -> JobRead:
    job = await db.get(Job, job_id)
    if job is None or job.owner_id != user.id:
        raise NotFound("Job not found")
    return JobRead.model_validate(job)


async def _token_from_first_message(websocket: WebSocket) -> str | None:
    try:
        message = await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_SECONDS)
        payload = json.loads(message)
    except (TimeoutError, json.JSONDecodeError, WebSocketDisconnect):
        return None
    if isinstance(payload, dict) and payload.get("type") == "auth":
        token = payload.get("token")
        return token if isinstance(token, str) else None
    return None


async def _authenticate(websocket: WebSocket) -> uuid.UUID | None:
    token = websocket.query_params.get("token") or await _token_from_first_message(websocket)
    if not token:
        return None
    service: AuthService = websocket.app.state.auth_service
    async with websocket.app.state.sessionmaker() as db:
        try:
            authenticated = await service.authenticate(db, token)
        except AppError:
            return None
    return authenticated.user.id


async def _forward_events(websocket: WebSocket, events: AsyncIterator[dict[str, Any]]) -> None:
    async for event in events:
        await websocket.send_json(event)


async def _heartbeat(websocket: WebSocket, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        await websocket.send_json(make_event("ping"))


async def _answer_client(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive_text()
        with contextlib.suppress(json.JSONDecodeError):
            payload: Any = json.loads(message)
            if isinstance(payload, dict) and payload.get("type") == "ping":
                await websocket.send_json(make_event("pong"))


@router.websocket("/ws")
async def events(websocket: WebSocket) -> None:
    """Your events as they happen. Authenticate with `?token=<access token>` or a first
    message `{"type": "auth", "token": "…"}`; a bad token closes with code 4401.

    After the server's event feed was interrupted (Redis or the database dropped its
    connection) an `events.resumed` event says some events may have been missed:
    refetch what you show."""
    await websocket.accept()
    user_id = await _authenticate(websocket)
    if user_id is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="invalid or missing token")
        return
    hub: EventHub = websocket.app.state.event_hub
    seconds = websocket.app.state.settings.ws_heartbeat_seconds
    async with hub.subscription(user_id) as events:
        await websocket.send_json(make_event("ready", user_id=str(user_id)))
        tasks = [
            asyncio.create_task(_forward_events(websocket, events)),
            asyncio.create_task(_heartbeat(websocket, seconds)),
            asyncio.create_task(_answer_client(websocket)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
