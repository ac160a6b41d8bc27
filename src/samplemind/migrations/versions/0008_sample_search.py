"""sample_search: a narrow copy of the searchable columns, kept in sync by triggers

Revision ID: 0008_sample_search
Revises: 0007_oauth
Create Date: 2026-12-02

A worded search reads most of the rows its words match (a common word matches a third
of a library). In ``samples`` those rows are wide (analysis, names, hashes), so at
100,000 rows such a search read ~15,000 heap pages; ``sample_search`` holds only what
the filters, the scores and the order read, so the same rows fill far fewer pages.

The rows are written by triggers on ``samples`` in the same transaction (insert, and
any update that changes a copied column); ``ON DELETE CASCADE`` removes them. The GIN
index is built after the backfill, with ``fastupdate = off``: fresh entries go straight
into the index instead of a pending list that every bitmap scan must read through.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from samplemind.analysis.embedding import EMBEDDING_DIM

revision = "0008_sample_search"
down_revision = "0007_oauth"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)
COPIED = (
    "owner_id", "created_at", "status", "kind", "bpm", "key", "camelot", "category",
    "duration", "loudness_lufs", "tags", "auto_tags", "search_document", "embedding",
)  # fmt: skip
"""The columns of ``samples`` copied, under the same names (``id`` becomes ``sample_id``)."""


def _sync_function() -> str:
    columns = ", ".join(COPIED)
    values = ", ".join(f"NEW.{column}" for column in COPIED)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in COPIED)
    return f"""
CREATE FUNCTION sample_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sample_search (sample_id, {columns}) VALUES (NEW.id, {values})
    ON CONFLICT (sample_id) DO UPDATE SET {updates};
    RETURN NULL;
END
$$
"""  # noqa: S608  (column names from COPIED, no input)


def _changed() -> str:
    old = ", ".join(f"OLD.{column}" for column in COPIED)
    new = ", ".join(f"NEW.{column}" for column in COPIED)
    return f"(ROW({old}) IS DISTINCT FROM ROW({new}))"


def upgrade() -> None:
    op.create_table(
        "sample_search",
        sa.Column("sample_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("bpm", sa.Float(), nullable=True),
        sa.Column("key", sa.String(length=16), nullable=True),
        sa.Column("camelot", sa.String(length=3), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("loudness_lufs", sa.Float(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=48)), nullable=False),
        sa.Column("auto_tags", postgresql.ARRAY(sa.String(length=48)), nullable=False),
        sa.Column("search_document", postgresql.TSVECTOR(), nullable=False),
        sa.Column("embedding", Vector(EMBEDDING_DIM), nullable=True),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["samples.id"],
            name=op.f("fk_sample_search_sample_id_samples"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sample_id", name=op.f("pk_sample_search")),
    )
    columns = ", ".join(COPIED)
    select_columns = f"SELECT id, {columns} FROM samples"  # noqa: S608  (COPIED, no input)
    op.execute(f"INSERT INTO sample_search (sample_id, {columns}) {select_columns}")
    op.create_index(
        "ix_sample_search_search_document",
        "sample_search",
        ["search_document"],
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    )
    op.execute(_sync_function())
    op.execute(
        "CREATE TRIGGER samples_insert_search AFTER INSERT ON samples "
        "FOR EACH ROW EXECUTE FUNCTION sample_search_sync()"
    )
    op.execute(
        "CREATE TRIGGER samples_update_search AFTER UPDATE ON samples "
        f"FOR EACH ROW WHEN {_changed()} EXECUTE FUNCTION sample_search_sync()"
    )
    op.execute("ANALYZE sample_search")


def downgrade() -> None:
    op.execute("DROP TRIGGER samples_update_search ON samples")
    op.execute("DROP TRIGGER samples_insert_search ON samples")
    op.execute("DROP FUNCTION sample_search_sync()")
    op.drop_index("ix_sample_search_search_document", table_name="sample_search")
    op.drop_table("sample_search")
