"""Library filters and sorting, shared by ``GET /audio`` and ``GET /search``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import ColumnElement, Select, String, func, literal, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlalchemy.orm.interfaces import LoaderOption
from sqlalchemy.sql.elements import UnaryExpression

from samplemind.samples.models import Sample
from samplemind.search.camelot import normalize_key
from samplemind.search.vocabulary import categories_for

MAX_PAGE = 1_000_000  # keeps the row offset inside PostgreSQL's bigint

SortKey = Literal[
    "created_at", "-created_at", "name", "-name", "bpm", "-bpm", "duration", "-duration",
    "loudness", "-loudness", "key", "-key",
]  # fmt: skip
_SORT_COLUMNS = {
    "created_at": Sample.created_at,
    "name": Sample.name,
    "bpm": Sample.bpm,
    "duration": Sample.duration,
    "loudness": Sample.loudness_lufs,
    "key": Sample.key,
}


def _split(values: list[str] | None) -> list[str]:
    """Accept both ``?tag=a&tag=b`` and ``?tag=a,b``."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


class SampleFilters(BaseModel):
    min_tempo: float | None = Field(default=None, ge=0, le=1000)
    max_tempo: float | None = Field(default=None, ge=0, le=1000)
    key: list[str] = Field(default_factory=list)
    kind: Literal["one_shot", "loop"] | None = None
    category: list[str] = Field(default_factory=list)
    min_duration: float | None = Field(default=None, ge=0)
    max_duration: float | None = Field(default=None, ge=0)
    min_loudness: float | None = Field(default=None, ge=-200, le=50)
    max_loudness: float | None = Field(default=None, ge=-200, le=50)
    tags: list[str] = Field(default_factory=list)
    folder: str | None = Field(default=None, max_length=1024)
    status: Literal["pending", "analyzing", "ready", "failed"] | None = None

    @field_validator("key")
    @classmethod
    def _normalize_keys(cls, keys: list[str]) -> list[str]:
        normalized = []
        for key in keys:
            value = normalize_key(key)
            if value is None:
                raise ValueError(f"unknown key {key!r}; use e.g. 'A minor', 'Am' or 'F#'")
            normalized.append(value)
        return normalized

    @field_validator("category")
    @classmethod
    def _known_categories(cls, words: list[str]) -> list[str]:
        """Taxonomy names or producers' words: ``bd`` is kick, ``hat`` both hats."""
        categories: list[str] = []
        for word in words:
            found = categories_for(word)
            if not found:
                raise ValueError(f"unknown category {word!r}; use e.g. 'kick', 'bd' or 'open_hat'")
            categories.extend(c for c in found if c not in categories)
        return categories

    def conditions(self) -> list[ColumnElement[bool]]:
        ranges: list[tuple[Any, float | None, float | None]] = [
            (Sample.bpm, self.min_tempo, self.max_tempo),
            (Sample.duration, self.min_duration, self.max_duration),
            (Sample.loudness_lufs, self.min_loudness, self.max_loudness),
        ]
        conditions: list[ColumnElement[bool]] = []
        for column, low, high in ranges:
            if low is not None:
                conditions.append(column >= low)
            if high is not None:
                conditions.append(column <= high)
        if self.key:
            conditions.append(Sample.key.in_(self.key))
        if self.kind:
            conditions.append(Sample.kind == self.kind)
        if self.category:
            conditions.append(Sample.category.in_(self.category))
        if self.tags:
            all_tags = type_coerce(func.array_cat(Sample.tags, Sample.auto_tags), ARRAY(String))
            conditions.append(all_tags.contains(self.tags))
        if self.folder:
            folder = self.folder.strip("/")
            conditions.append(
                or_(
                    Sample.folder_path == folder,
                    Sample.folder_path.startswith(folder + "/", autoescape=True),
                )
            )
        if self.status:
            conditions.append(Sample.status == self.status)
        return conditions


async def sample_filters(
    min_tempo: Annotated[float | None, Query(ge=0, le=1000, description="BPM")] = None,
    max_tempo: Annotated[float | None, Query(ge=0, le=1000, description="BPM")] = None,
    key: Annotated[
        list[str] | None, Query(description="e.g. 'A minor' or 'Am'; repeat or comma-separate")
    ] = None,
    kind: Annotated[Literal["one_shot", "loop"] | None, Query()] = None,
    category: Annotated[
        list[str] | None,
        Query(description="e.g. 'kick', 'bd', 'hat' (both hats); repeat or comma-separate"),
    ] = None,
    min_duration: Annotated[float | None, Query(ge=0, description="seconds")] = None,
    max_duration: Annotated[float | None, Query(ge=0, description="seconds")] = None,
    min_loudness: Annotated[float | None, Query(ge=-200, le=50, description="LUFS")] = None,
    max_loudness: Annotated[float | None, Query(ge=-200, le=50, description="LUFS")] = None,
    tags: Annotated[
        list[str] | None,
        Query(
            description="your tags and the engine's auto tags (short, punchy, bright, ...); "
            "all must match; repeat or comma-separate"
        ),
    ] = None,
    folder: Annotated[
        str | None, Query(max_length=1024, description="folder and its subfolders")
    ] = None,
    status: Annotated[Literal["pending", "analyzing", "ready", "failed"] | None, Query()] = None,
) -> SampleFilters:
    try:
        return SampleFilters(
            min_tempo=min_tempo, max_tempo=max_tempo, key=_split(key), kind=kind,
            category=_split(category), min_duration=min_duration, max_duration=max_duration,
            min_loudness=min_loudness, max_loudness=max_loudness, tags=_split(tags),
            folder=folder, status=status,
        )  # fmt: skip
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        ) from exc


class PageParams(BaseModel):
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    page_size: int = Field(default=50, ge=1, le=200)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def pages(self, total: int) -> int:
        return math.ceil(total / self.page_size) if total else 0


TOTAL_COUNT_CAP = 1000
"""Counting stops past this many matches; ``total`` is then a lower bound."""


@dataclass(frozen=True)
class Total:
    """How many samples match: exact, or (past the cap) a lower bound."""

    value: int
    is_lower_bound: bool


async def count_up_to(db: AsyncSession, conditions: list[ColumnElement[bool]], cap: int) -> int:
    """The number of matching samples, counting no further than ``cap + 1``."""
    matching = select(literal(1)).select_from(Sample).where(*conditions).limit(cap + 1)
    counted = await db.scalar(select(func.count()).select_from(matching.subquery()))
    return int(counted or 0)


def page_total(counted: int, cap: int, paging: PageParams, fetched: int) -> Total:
    """The total to report, from a count capped at ``cap + 1`` and the rows of this page.

    ``fetched`` is how many rows the page query returned when asked for one more than a
    page, so a capped total still covers this page and says whether another follows.
    """
    if counted <= cap:
        return Total(counted, is_lower_bound=False)
    seen = paging.offset + fetched if fetched else 0  # an empty page proves nothing
    return Total(max(counted, seen), is_lower_bound=True)


LIST_ITEM_LOADING: tuple[LoaderOption, ...] = tuple(
    defer(column, raiseload=True)
    for column in (Sample.analysis, Sample.embedding, Sample.search_text, Sample.search_document)
)
"""Loader options for list pages: leave out what a list item never shows."""


async def page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


def sort_clause(sort: SortKey) -> list[UnaryExpression[Any]]:
    column = _SORT_COLUMNS[sort.lstrip("-")]
    ordered = column.desc().nulls_last() if sort.startswith("-") else column.asc().nulls_last()
    return [ordered, Sample.id.asc()]


def owned(statement: Select[Any], owner_id: object) -> Select[Any]:
    return statement.where(Sample.owner_id == owner_id)
