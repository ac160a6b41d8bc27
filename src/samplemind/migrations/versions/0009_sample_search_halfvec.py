"""sample_search: the embedding as halfvec, fixed-width columns first

Revision ID: 0009_sample_search_halfvec
Revises: 0008_sample_search
Create Date: 2026-12-02

A worded "sounds like" search reads the row of every match (25,000 of 100,000 for
"perc"). Half-precision embeddings (242 bytes instead of 484) fill a quarter fewer
pages, and with the fixed-width columns and the embedding ahead of the arrays and the
tsvector, PostgreSQL finds the columns a filter and the distance read without walking
past the variable-length ones. The search re-ranks its page on the full-precision
embeddings of ``samples``, so answers stay exact.

The table is rebuilt beside the old one and swapped in (column order cannot be changed in
place); the sync function names its columns, so it serves the new table unchanged
(``vector`` casts to ``halfvec`` implicitly).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import HALFVEC, Vector
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from samplemind.analysis.embedding import EMBEDDING_DIM

revision = "0009_sample_search_halfvec"
down_revision = "0008_sample_search"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)
COPIED = (
    "owner_id", "created_at", "bpm", "duration", "loudness_lufs", "embedding", "status",
    "kind", "key", "camelot", "category", "tags", "auto_tags", "search_document",
)  # fmt: skip
"""The columns of ``samples`` copied, in the new table's order (``id`` is ``sample_id``)."""
_OLD_ORDER = (
    "owner_id", "created_at", "status", "kind", "bpm", "key", "camelot", "category",
    "duration", "loudness_lufs", "tags", "auto_tags", "search_document", "embedding",
)  # fmt: skip


def _column(name: str, embedding_type: TypeEngine[Any]) -> sa.Column[Any]:
    types: dict[str, tuple[TypeEngine[Any], bool]] = {
        "owner_id": (sa.Uuid(), False),
        "created_at": (_TIMESTAMP, False),
        "bpm": (sa.Float(), True),
        "duration": (sa.Float(), True),
        "loudness_lufs": (sa.Float(), True),
        "embedding": (embedding_type, True),
        "status": (sa.String(length=16), False),
        "kind": (sa.String(length=16), True),
        "key": (sa.String(length=16), True),
        "camelot": (sa.String(length=3), True),
        "category": (sa.String(length=32), True),
        "tags": (postgresql.ARRAY(sa.String(length=48)), False),
        "auto_tags": (postgresql.ARRAY(sa.String(length=48)), False),
        "search_document": (postgresql.TSVECTOR(), False),
    }
    column_type, nullable = types[name]
    return sa.Column(name, column_type, nullable=nullable)


def _rebuild(order: tuple[str, ...], embedding_type: TypeEngine[Any]) -> None:
    """Replace ``sample_search`` with a copy in ``order``, filled from ``samples``.

    Writes to ``samples`` wait while the copy is built; reads wait only for the swap,
    whose locks are taken in the order a search takes them (``samples``, then
    ``sample_search``), so a running search cannot deadlock with it.
    """
    op.execute("LOCK TABLE samples IN SHARE ROW EXCLUSIVE MODE")
    op.create_table(
        "sample_search_next",
        sa.Column("sample_id", sa.Uuid(), nullable=False),
        *(_column(name, embedding_type) for name in order),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["samples.id"],
            name=op.f("fk_sample_search_sample_id_samples"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sample_id", name=op.f("pk_sample_search_next")),
    )
    columns = ", ".join(order)
    select_columns = f"SELECT id, {columns} FROM samples"  # noqa: S608  (names, no input)
    op.execute(f"INSERT INTO sample_search_next (sample_id, {columns}) {select_columns}")
    op.create_index(
        "ix_sample_search_next_search_document",
        "sample_search_next",
        ["search_document"],
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    )
    op.execute("ANALYZE sample_search_next")
    op.execute("LOCK TABLE samples, sample_search IN ACCESS EXCLUSIVE MODE")
    op.drop_table("sample_search")
    op.rename_table("sample_search_next", "sample_search")
    op.execute(
        "ALTER TABLE sample_search RENAME CONSTRAINT pk_sample_search_next TO pk_sample_search"
    )
    op.execute(
        "ALTER INDEX ix_sample_search_next_search_document "
        "RENAME TO ix_sample_search_search_document"
    )


def upgrade() -> None:
    _rebuild(COPIED, HALFVEC(EMBEDDING_DIM))


def downgrade() -> None:
    _rebuild(_OLD_ORDER, Vector(EMBEDDING_DIM))
