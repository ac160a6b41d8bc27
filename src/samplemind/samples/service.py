"""The samples domain: storing analyses, user corrections, searchable text."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.analysis.record import AnalysisRecord
from samplemind.samples.models import Sample
from samplemind.search.camelot import camelot_code
from samplemind.search.vocabulary import search_terms

_WORD_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])|[^A-Za-z0-9#]+")


async def find_owned_sample(
    db: AsyncSession, owner_id: uuid.UUID, sample_id: uuid.UUID
) -> Sample | None:
    """The sample if it belongs to ``owner_id``; another user's sample is None, like a
    missing one, so nobody can learn what others own."""
    sample = await db.get(Sample, sample_id)
    return sample if sample is not None and sample.owner_id == owner_id else None


async def lock_owned_sample(
    db: AsyncSession, owner_id: uuid.UUID, sample_id: uuid.UUID
) -> Sample | None:
    """As ``find_owned_sample``, with the row locked until the commit, as before writing
    its jobs: a deletion in progress is waited for (the sample is then missing), and so
    is a worker writing a job of it."""
    sample: Sample | None = await db.scalar(
        select(Sample)
        .where(Sample.id == sample_id, Sample.owner_id == owner_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return sample


def sample_display_path(sample: Sample) -> str:
    """Folder path and file name, which carry hints such as "Loops/Am/124bpm"."""
    folder = sample.folder_path.strip("/")
    return f"{folder}/{sample.original_filename}" if folder else sample.original_filename


def store_analysis(sample: Sample, record: AnalysisRecord) -> None:
    """Keep the engine's record on the sample and refresh the searchable columns."""
    sample.analysis = record.as_dict(include_embedding=False)
    sample.analyzed_at = datetime.now(UTC)
    sample.audio_sha256 = record.audio_sha256
    sample.format = record.format
    sample.sample_rate = record.sample_rate
    sample.channels = record.channels
    sample.duration = record.duration
    sample.loudness_lufs = record.loudness_lufs
    sample.peak_dbfs = record.peak_dbfs
    sample.kind = record.kind
    sample.pitch_hz = record.pitch_hz
    sample.root_note = record.root_note
    sample.auto_tags = list(record.tags)
    sample.embedding = record.embedding
    if record.error is None:
        sample.status = "ready"
        sample.error_code = sample.error_message = None
    apply_effective_values(sample)


def apply_effective_values(sample: Sample) -> None:
    """The user's corrections win over the analysis."""
    analysis = sample.analysis or {}
    sample.bpm = sample.user_bpm if sample.user_bpm is not None else analysis.get("bpm")
    sample.key = sample.user_key or analysis.get("key")
    sample.camelot = camelot_code(sample.key)
    sample.category = sample.user_category or analysis.get("category")
    sample.search_text = build_search_text(sample)


def words(text: str) -> list[str]:
    return [word.lower() for word in _WORD_BOUNDARY.split(text) if word]


def build_search_text(sample: Sample) -> str:
    parts = [
        sample.name,
        sample.original_filename,
        sample.folder_path,
        " ".join(sample.tags or ()),
        " ".join(sample.auto_tags or ()),
        (sample.category or "").replace("_", ""),
        (sample.kind or "").replace("_", ""),
        sample.key or "",
        sample.root_note or "",
    ]
    tokens = words(" ".join(parts))
    return " ".join(dict.fromkeys(search_terms(tokens)))
