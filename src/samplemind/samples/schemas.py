"""Request and response bodies of the audio library."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from samplemind.analysis.classify import TAXONOMY
from samplemind.search.camelot import normalize_key

AnalysisType = Literal["basic", "standard", "detailed", "professional"]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=48)]
SampleKind = Literal["one_shot", "loop"]
CATEGORIES = TAXONOMY  # the classifier's categories (analysis/classify.py)


class ErrorInfo(BaseModel):
    code: str
    message: str | None = None


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sample_id: uuid.UUID
    analysis_type: str
    status: Literal["queued", "running", "done", "failed"]
    progress: int
    attempts: int
    error_code: str | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class Corrections(BaseModel):
    bpm: float | None = None
    key: str | None = None
    category: str | None = None


class SampleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    original_filename: str
    folder_path: str
    size_bytes: int
    content_sha256: str
    status: Literal["pending", "analyzing", "ready", "failed"]
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    analyzed_at: datetime | None
    format: str | None
    sample_rate: int | None
    channels: int | None
    duration: float | None
    loudness_lufs: float | None
    peak_dbfs: float | None
    kind: str | None
    bpm: float | None
    key: str | None
    camelot: str | None
    pitch_hz: float | None
    root_note: str | None
    category: str | None
    tags: list[str]
    auto_tags: list[str]
    corrections: Corrections
    analysis: dict[str, Any] | None = Field(
        default=None, description="The engine's full record (see ARCHITECTURE.md)"
    )


class UploadedSample(BaseModel):
    sample: SampleRead
    job: JobRead | None
    duplicate: bool = Field(description="The same content was already in your library")


class UploadRejection(BaseModel):
    filename: str
    error: ErrorInfo


class UploadResponse(BaseModel):
    items: list[UploadedSample]
    errors: list[UploadRejection]


class SamplePage(BaseModel):
    items: list[SampleRead]
    total: int
    total_is_lower_bound: bool = Field(
        default=False,
        description="Counting stopped at the cap (1,000): at least `total` samples match",
    )
    page: int
    page_size: int
    pages: int


class SampleUpdate(BaseModel):
    """Fields left out stay as they are; ``null`` clears a correction."""

    model_config = ConfigDict(extra="forbid")

    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]
        | None
    ) = None
    tags: list[Tag] | None = Field(default=None, max_length=64)
    bpm: float | None = Field(default=None, ge=20, le=400)
    key: str | None = None
    category: Literal[CATEGORIES] | None = None  # type: ignore[valid-type]

    @field_validator("key")
    @classmethod
    def _known_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalized = normalize_key(value)
        if normalized is None:
            raise ValueError('key must look like "A minor", "F# major", "Am" or "Bb"')
        return normalized


class AnalyzeRequest(BaseModel):
    audio_id: uuid.UUID
    analysis_type: AnalysisType = "standard"


class Waveform(BaseModel):
    sample_id: uuid.UUID
    points: int
    duration: float
    sample_rate: int
    channels: int
    peaks: list[list[float]] = Field(description="[min, max] per point, full scale ±1")
