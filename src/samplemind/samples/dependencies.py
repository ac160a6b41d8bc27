from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from samplemind.auth.dependencies import CurrentUser, DbSession
from samplemind.core.errors import NotFound
from samplemind.jobs.events import EventPublisher
from samplemind.jobs.queue import JobQueue
from samplemind.samples.models import Sample
from samplemind.samples.service import find_owned_sample
from samplemind.samples.storage import Storage


async def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def get_job_queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.job_queue
    return queue


async def get_publisher(request: Request) -> EventPublisher:
    publisher: EventPublisher = request.app.state.event_publisher
    return publisher


StorageDep = Annotated[Storage, Depends(get_storage)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]
PublisherDep = Annotated[EventPublisher, Depends(get_publisher)]


async def get_owned_sample(audio_id: uuid.UUID, user: CurrentUser, db: DbSession) -> Sample:
    """The caller's sample; another user's sample is indistinguishable from a missing one."""
    sample = await find_owned_sample(db, user.id, audio_id)
    if sample is None:
        raise NotFound("Sample not found")
    return sample


OwnedSample = Annotated[Sample, Depends(get_owned_sample)]
