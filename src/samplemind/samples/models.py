"""Samples: one row per (owner, content), with the analysis and its searchable columns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import HALFVEC, Vector
from sqlalchemy import (
    BigInteger,
    Computed,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from samplemind.analysis.embedding import EMBEDDING_DIM
from samplemind.core.db import Base, Timestamps, UUIDPrimaryKey, utc_now


class Sample(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("owner_id", "content_sha256", name="uq_samples_owner_content"),
        Index("ix_samples_owner_newest", "owner_id", text("created_at DESC NULLS LAST"), "id"),
        Index("ix_samples_owner_camelot", "owner_id", "camelot"),
        Index("ix_samples_owner_bpm", "owner_id", "bpm"),
        Index("ix_samples_owner_key", "owner_id", "key"),
        Index("ix_samples_owner_category", "owner_id", "category"),
        Index("ix_samples_owner_audio_sha", "owner_id", "audio_sha256"),
        Index("ix_samples_search_document", "search_document", postgresql_using="gin"),
        Index("ix_samples_tags", "tags", postgresql_using="gin"),
        Index(
            "ix_samples_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    original_filename: Mapped[str] = mapped_column(String(512))
    folder_path: Mapped[str] = mapped_column(String(1024), default="")
    name: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
    analyzed_at: Mapped[datetime | None]
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    audio_sha256: Mapped[str | None] = mapped_column(String(64))

    # Searchable values: the analysis, unless the user corrected them.
    format: Mapped[str | None] = mapped_column(String(16))
    sample_rate: Mapped[int | None]
    channels: Mapped[int | None]
    duration: Mapped[float | None]
    loudness_lufs: Mapped[float | None]
    peak_dbfs: Mapped[float | None]
    kind: Mapped[str | None] = mapped_column(String(16))
    bpm: Mapped[float | None]
    key: Mapped[str | None] = mapped_column(String(16))
    camelot: Mapped[str | None] = mapped_column(String(3))
    pitch_hz: Mapped[float | None]
    root_note: Mapped[str | None] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(32))
    auto_tags: Mapped[list[str]] = mapped_column(ARRAY(String(48)), default=list)
    embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIM))

    # The user's corrections, which win over the analysis.
    user_bpm: Mapped[float | None]
    user_key: Mapped[str | None] = mapped_column(String(16))
    user_category: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(48)), default=list)

    @property
    def corrections(self) -> dict[str, object]:
        return {"bpm": self.user_bpm, "key": self.user_key, "category": self.user_category}

    search_text: Mapped[str] = mapped_column(Text, default="")
    search_document: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple', search_text)", persisted=True)
    )


class SampleSearch(Base):
    """A narrow copy of what a worded search reads of each sample: its filters, text and
    embedding, without the analysis, names and hashes. Written only by the database
    (triggers on ``samples``, migrations 0008 and 0009), in the same transaction as the
    sample.

    A worded search reads most of the rows its words match; here they fill about half
    the heap pages they fill in ``samples``. The embedding is half precision (the search
    re-ranks its page on the full-precision one in ``samples``), and the fixed-width
    columns come first, so reading a filter or the distance skips the long columns.
    """

    __tablename__ = "sample_search"
    __table_args__ = (
        # fastupdate off: a pending list of fresh entries made bitmap scans read ~5x the pages
        Index(
            "ix_sample_search_search_document",
            "search_document",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
    )

    sample_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime]
    bpm: Mapped[float | None]
    duration: Mapped[float | None]
    loudness_lufs: Mapped[float | None]
    embedding: Mapped[list[float] | None] = mapped_column(HALFVEC(EMBEDDING_DIM))
    status: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str | None] = mapped_column(String(16))
    key: Mapped[str | None] = mapped_column(String(16))
    camelot: Mapped[str | None] = mapped_column(String(3))
    category: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(48)))
    auto_tags: Mapped[list[str]] = mapped_column(ARRAY(String(48)))
    search_document: Mapped[str] = mapped_column(TSVECTOR)
