"""``/api/v1/audio``: upload, analyse, browse, correct, delete, stream, draw."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.audit.service import record
from samplemind.auth.dependencies import CurrentUser, DbSession
from samplemind.core.errors import (
    AppError,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    error_responses,
)
from samplemind.jobs.events import OwnedEvent, commit_with_events, make_event
from samplemind.jobs.models import Job
from samplemind.samples import files
from samplemind.samples.dependencies import JobQueueDep, OwnedSample, PublisherDep, StorageDep
from samplemind.samples.models import Sample
from samplemind.samples.multipart import ReceivedFile, ReceivedForm, UploadFailed, receive_form
from samplemind.samples.schemas import (
    AnalyzeRequest,
    ErrorInfo,
    JobRead,
    SamplePage,
    SampleRead,
    SampleUpdate,
    UploadedSample,
    UploadRejection,
    UploadResponse,
    Waveform,
)
from samplemind.samples.service import apply_effective_values, lock_owned_sample
from samplemind.samples.storage import Storage
from samplemind.samples.upload import (
    NewUpload,
    UploadConflict,
    add_sample,
    check_audio,
    delete_unused,
    latest_job,
    lock_content,
    lock_contents,
    release_all,
    release_content,
)
from samplemind.search.duplicates import DuplicateReport, find_duplicates
from samplemind.search.filters import (
    PageParams,
    SampleFilters,
    SortKey,
    page_params,
    sample_filters,
)
from samplemind.search.service import list_page

router = APIRouter(prefix="/audio", tags=["audio"])


_LIST_FIELDS = tuple(name for name in SampleRead.model_fields if name != "analysis")


def sample_fields(sample: Sample) -> dict[str, Any]:
    """What a list item shows, read without touching the (deferred) analysis record."""
    return {name: getattr(sample, name) for name in _LIST_FIELDS}


def sample_read(sample: Sample, *, with_analysis: bool = True) -> SampleRead:
    if with_analysis:
        return SampleRead.model_validate(sample)
    return SampleRead.model_validate(sample_fields(sample))


@router.post(
    "/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadResponse,
    responses=error_responses(400, 401, 409, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "files": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            },
                            "folder": {
                                "type": "string",
                                "description": "folder path for all files",
                            },
                        },
                    }
                }
            },
        }
    },
)
async def upload(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    storage: StorageDep,
    queue: JobQueueDep,
    publisher: PublisherDep,
) -> UploadResponse:
    """Upload one file (`file`) or many (`files`); each is analysed in the background.

    Identical content already in your library comes back marked `duplicate`. Content that
    is not audio (415) or cannot be decoded (422) is refused and nothing is kept; so is a
    file whose content a concurrent deletion removed before it became a sample (409
    `upload_conflict`: upload it again). With the audio storage failing, the whole upload
    is 503 `storage_unavailable` and nothing is kept.
    """
    form = await _receive(request, db, storage)
    try:
        added, rejections = await _add_files(request, db, storage, user.id, form)
        items = [_uploaded(new) for new in added]
        await commit_with_events(db, publisher, _upload_events(user.id, added))
    except Exception:
        await release_all(db, storage, form.files)
        raise
    await queue.enqueue([new.job.id for new in added if new.job is not None and not new.duplicate])
    return UploadResponse(items=items, errors=[rejection for rejection, _ in rejections])


Rejection = tuple[UploadRejection, AppError]


async def _receive(request: Request, db: AsyncSession, storage: Storage) -> ReceivedForm:
    settings = request.app.state.settings
    try:
        form = await receive_form(
            request,
            storage,
            max_file_bytes=settings.max_upload_bytes,
            max_request_bytes=settings.max_request_bytes,
            max_files=settings.max_files_per_request,
        )
    except UploadFailed as failure:
        await release_all(db, storage, failure.form.files)
        raise failure.error from failure.error.__cause__  # its own cause, for the log
    if not form.files:
        raise ValidationFailed(
            "Attach audio as a multipart field named 'file' or 'files'", code="no_file"
        )
    return form


async def _add_files(
    request: Request, db: AsyncSession, storage: Storage, owner_id: uuid.UUID, form: ReceivedForm
) -> tuple[list[NewUpload], list[Rejection]]:
    """A sample for each file that is audio; raises the first refusal if none is."""
    accepted, rejections = await _screen(request, db, storage, form.files)
    folder_field = form.fields.get("folder") or form.fields.get("folder_path") or ""
    await lock_contents(db, (received.blob.sha256 for received in accepted))
    added: list[NewUpload] = []
    for received in accepted:
        try:
            added.append(
                await add_sample(
                    db, storage, owner_id=owner_id, received=received, folder_field=folder_field
                )
            )
        except UploadConflict as conflict:
            rejections.append(_rejection(received, conflict))
    if not added:
        first = rejections[0][1]
        first.details = [rejection.model_dump() for rejection, _ in rejections]
        raise first
    return added, rejections


def _rejection(received: ReceivedFile, error: AppError) -> Rejection:
    info = ErrorInfo(code=error.code, message=error.message)
    return UploadRejection(filename=received.filename, error=info), error


def _uploaded(new: NewUpload) -> UploadedSample:
    return UploadedSample(
        sample=sample_read(new.sample),
        job=JobRead.model_validate(new.job) if new.job else None,
        duplicate=new.duplicate,
    )


def _upload_events(owner_id: uuid.UUID, added: list[NewUpload]) -> list[OwnedEvent]:
    events: list[OwnedEvent] = []
    for new in added:
        events.append((owner_id, make_event(
            "upload.received", sample_id=str(new.sample.id),
            filename=new.sample.original_filename, duplicate=new.duplicate,
        )))  # fmt: skip
        if new.job is not None and not new.duplicate:
            events.append((owner_id, make_event(
                "job.queued", job_id=str(new.job.id), sample_id=str(new.sample.id),
                status="queued", progress=0,
            )))  # fmt: skip
    return events


async def _screen(
    request: Request, db: AsyncSession, storage: Storage, files: list[ReceivedFile]
) -> tuple[list[ReceivedFile], list[Rejection]]:
    """Decode every file before any row is added; refused content is released at once.

    Each content is decoded once: a batch may carry the same file twice.
    """
    max_duration = request.app.state.settings.max_audio_duration_seconds
    verdicts: dict[str, AppError | None] = {}
    accepted: list[ReceivedFile] = []
    rejections: list[Rejection] = []
    for received in files:
        sha256 = received.blob.sha256
        if sha256 not in verdicts:
            verdicts[sha256] = await _decode_error(request, storage, sha256, max_duration)
            if verdicts[sha256] is not None:
                await release_content(db, storage, sha256)
        error = verdicts[sha256]
        if error is None:
            accepted.append(received)
        else:
            rejections.append(_rejection(received, error))
    return accepted, rejections


async def _decode_error(
    request: Request, storage: Storage, sha256: str, max_duration: float
) -> AppError | None:
    try:
        async with request.app.state.decode_slots:
            await asyncio.to_thread(check_audio, storage, sha256, max_duration=max_duration)
    except ServiceUnavailable:  # the server's failure, not a refusal of this file
        raise
    except AppError as exc:
        return exc
    return None


@router.post(
    "/analyze",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobRead,
    responses=error_responses(400, 401, 404, 422),
)
async def analyze(
    body: AnalyzeRequest,
    user: CurrentUser,
    db: DbSession,
    queue: JobQueueDep,
    publisher: PublisherDep,
) -> JobRead:
    """Analyse a sample again; an analysis already queued or running is returned as is."""
    sample = await lock_owned_sample(db, user.id, body.audio_id)
    if sample is None:
        raise NotFound("Sample not found")
    active = await latest_job(db, sample.id)
    if active is not None and active.status in ("queued", "running"):
        return JobRead.model_validate(active)
    job = Job(owner_id=user.id, sample_id=sample.id, analysis_type=body.analysis_type)
    db.add(job)
    await db.flush()
    event = make_event(
        "job.queued", job_id=str(job.id), sample_id=str(sample.id), status="queued", progress=0
    )
    await commit_with_events(db, publisher, [(user.id, event)])
    await queue.enqueue([job.id])
    return JobRead.model_validate(job)


@router.get("", response_model=SamplePage, responses=error_responses(401, 422))
async def list_samples(
    user: CurrentUser,
    db: DbSession,
    filters: Annotated[SampleFilters, Depends(sample_filters)],
    paging: Annotated[PageParams, Depends(page_params)],
    sort: SortKey = "-created_at",
    include_analysis: bool = False,
) -> SamplePage:
    """Your samples, filtered, sorted and paginated.

    Past 1,000 matches counting stops: `total` is then a lower bound that still covers
    this page and the next, and `total_is_lower_bound` is true.
    """
    page = await list_page(db, user.id, filters, paging, sort=sort, with_analysis=include_analysis)
    return SamplePage(
        items=[sample_read(row, with_analysis=include_analysis) for row in page.samples],
        total=page.total.value,
        total_is_lower_bound=page.total.is_lower_bound,
        page=paging.page,
        page_size=paging.page_size,
        pages=paging.pages(page.total.value),
    )


@router.get("/duplicates", response_model=DuplicateReport, responses=error_responses(401, 422))
async def duplicates(
    user: CurrentUser,
    db: DbSession,
    threshold: Annotated[
        float, Query(ge=0, le=0.5, description="cosine distance for near duplicates")
    ] = 0.01,
) -> DuplicateReport:
    """Groups of exact duplicates (same decoded audio, any format) and near duplicates."""
    return await find_duplicates(db, owner_id=user.id, threshold=threshold)


@router.get("/{audio_id}", response_model=SampleRead, responses=error_responses(401, 404))
async def get_sample(sample: OwnedSample) -> SampleRead:
    return sample_read(sample)


@router.patch(
    "/{audio_id}", response_model=SampleRead, responses=error_responses(400, 401, 404, 422)
)
async def update_sample(
    body: SampleUpdate, sample: OwnedSample, db: DbSession, publisher: PublisherDep
) -> SampleRead:
    """Rename, tag, or correct bpm/key/category; corrections win over the analysis."""
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes:
        if body.name is None:
            raise ValidationFailed("name cannot be null")
        sample.name = body.name
    if "tags" in changes:
        sample.tags = list(dict.fromkeys(tag.lower() for tag in body.tags or ()))
    if "bpm" in changes:
        sample.user_bpm = body.bpm
    if "key" in changes:
        sample.user_key = body.key
    if "category" in changes:
        sample.user_category = body.category
    apply_effective_values(sample)
    event = make_event("sample.updated", sample_id=str(sample.id))
    await commit_with_events(db, publisher, [(sample.owner_id, event)])
    await db.refresh(sample)
    return sample_read(sample)


@router.delete(
    "/{audio_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, 503),
)
async def delete_sample(
    sample: OwnedSample, db: DbSession, storage: StorageDep, publisher: PublisherDep
) -> Response:
    """Delete the sample, and its file unless another sample has the same content.

    With the storage failing to delete the file, it is 503 `storage_unavailable` and the
    sample stays: delete it again later.
    """
    sha256, owner_id, sample_id = sample.content_sha256, sample.owner_id, sample.id
    await lock_content(db, sha256)  # before the row, as an upload of this content does
    record(
        db,
        "sample.deleted",
        user_id=owner_id,
        sample_id=str(sample_id),
        filename=sample.original_filename,
    )
    await db.delete(sample)
    await db.flush()
    await delete_unused(db, storage, sha256)  # the file first: no orphan if it fails
    await commit_with_events(
        db, publisher, [(owner_id, make_event("sample.deleted", sample_id=str(sample_id)))]
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{audio_id}/file",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"audio/*": {}}},
        206: {"description": "partial content"},
        **error_responses(401, 404, 416, 503),
    },
)
async def stream_file(request: Request, sample: OwnedSample, storage: StorageDep) -> Response:
    """The original file; honours `Range: bytes=…` so players can seek."""
    return await files.stream(request, sample, storage)


@router.get(
    "/{audio_id}/waveform",
    response_model=Waveform,
    responses=error_responses(401, 404, 422, 503),
)
async def waveform(
    request: Request,
    response: Response,
    sample: OwnedSample,
    storage: StorageDep,
    points: Annotated[int, Query(ge=16, le=10_000)] = 1000,
) -> Waveform | Response:
    """Min/max peaks per point, for drawing. Cacheable: it answers `If-None-Match`
    with 304, since the peaks of stored content never change."""
    etag = files.waveform_etag(sample, points=points)
    cache_headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=cache_headers)
    response.headers.update(cache_headers)
    async with request.app.state.decode_slots:
        return await asyncio.to_thread(files.waveform, sample, storage, points=points)
