"""``/api/v1/search``: text, filters, similar, compatible; and search by an uploaded clip."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from samplemind.analysis.pipeline import analyze_bytes
from samplemind.auth.dependencies import CurrentUser, DbSession
from samplemind.core.errors import ValidationFailed, error_responses
from samplemind.samples.endpoints import sample_fields
from samplemind.samples.multipart import UploadFailed, receive_form
from samplemind.samples.schemas import SampleRead
from samplemind.samples.storage import local_storage
from samplemind.samples.upload import audio_error
from samplemind.search.filters import PageParams, SampleFilters, page_params, sample_filters
from samplemind.search.service import OrderedBy, SearchRequest, SearchResult, search

router = APIRouter(prefix="/search", tags=["search"])
_DOCS = error_responses(401, 404, 413, 415, 422)
_CLIP_DOCS = error_responses(401, 404, 413, 415, 422, 503)


class SearchHit(SampleRead):
    score: float | None
    scores: dict[str, float]


class SearchPage(BaseModel):
    items: list[SearchHit]
    total: int
    total_is_lower_bound: bool = Field(
        default=False,
        description="Counting stopped at the cap (1,000): at least `total` samples match",
    )
    ordered_by: OrderedBy = Field(
        default="newest",
        description=(
            "score: by combined score (up to 1,000 matches); similarity: nearest first "
            "(always for similar_to alone, and past 1,000 matches of a combined search); "
            "newest: newest first (no scores, or past 1,000 matches)"
        ),
    )
    page: int
    page_size: int
    pages: int


def _page(result: SearchResult, paging: PageParams) -> SearchPage:
    hits = [
        SearchHit.model_validate({**sample_fields(sample), "score": score, "scores": scores})
        for sample, score, scores in result.rows
    ]
    return SearchPage(
        items=hits,
        total=result.total,
        total_is_lower_bound=result.total_is_lower_bound,
        ordered_by=result.ordered_by,
        page=paging.page,
        page_size=paging.page_size,
        pages=paging.pages(result.total),
    )


@router.get("", response_model=SearchPage, responses=_DOCS)
async def search_library(
    user: CurrentUser,
    db: DbSession,
    filters: Annotated[SampleFilters, Depends(sample_filters)],
    paging: Annotated[PageParams, Depends(page_params)],
    query: Annotated[
        str | None, Query(max_length=200, description="words; bd/kick, sd/snare, hh/hat…")
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="alias of query")] = None,
    similar_to: Annotated[uuid.UUID | None, Query(description="sample id: sounds like it")] = None,
    compatible_with: Annotated[
        uuid.UUID | None, Query(description="sample id: loops that fit it")
    ] = None,
    tempo_tolerance: Annotated[
        float, Query(gt=0, le=0.5, description="fraction, e.g. 0.06")
    ] = 0.06,
) -> SearchPage:
    """Search your library; every part combines with the others and results are scored."""
    request = SearchRequest(
        owner_id=user.id,
        filters=filters,
        paging=paging,
        query=(query or q or "").strip() or None,
        similar_to=similar_to,
        compatible_with=compatible_with,
        tempo_tolerance=tempo_tolerance,
    )
    return _page(await search(db, request), paging)


@router.post("/similar", response_model=SearchPage, responses=_CLIP_DOCS)
async def search_by_clip(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    filters: Annotated[SampleFilters, Depends(sample_filters)],
    paging: Annotated[PageParams, Depends(page_params)],
) -> SearchPage:
    """Samples that sound like an uploaded clip (field `file`); the clip is not kept."""
    settings = request.app.state.settings
    filename, data = await _receive_clip(request)
    async with request.app.state.decode_slots:
        record = await asyncio.to_thread(
            analyze_bytes, data, name=filename, embedding=True,
            max_duration=settings.max_audio_duration_seconds,
        )  # fmt: skip
    if record.error is not None:
        raise audio_error(record.error["code"], record.error["message"])
    assert record.embedding is not None
    query = SearchRequest(
        owner_id=user.id, filters=filters, paging=paging, similar_vector=record.embedding
    )
    return _page(await search(db, query), paging)


async def _receive_clip(request: Request) -> tuple[str, bytes]:
    """The clip's file name and content, received into a directory of this request's own:
    storage is content-addressed, so identical clips at once would share one file."""
    settings = request.app.state.settings
    workspace = request.app.state.query_clips_dir / uuid.uuid4().hex
    try:
        clips = await asyncio.to_thread(local_storage, workspace)
        form = await receive_form(
            request, clips, max_file_bytes=settings.max_upload_bytes,
            max_request_bytes=settings.max_upload_bytes + 65536, max_files=1,
        )  # fmt: skip
        if not form.files:
            raise ValidationFailed(
                "Attach the clip as a multipart field named 'file'", code="no_file"
            )
        clip = form.files[0]
        return clip.filename, await asyncio.to_thread(clips.read_bytes, clip.blob.sha256)
    except UploadFailed as failure:
        raise failure.error from failure.error.__cause__  # its own cause, for the log
    finally:
        await asyncio.to_thread(shutil.rmtree, workspace, ignore_errors=True)
