"""search indexes: the default list order, and keys for compatible_with

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``(owner_id, created_at DESC NULLS LAST, id)`` gives the library's default order
(newest first, ties by id) straight from the index, so a list page or a broad text search
reads only the rows it returns; it replaces ``(owner_id, created_at)``, which could not.
``(owner_id, camelot)`` finds the harmonic neighbours of a "fits with" search.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_samples_owner_created", table_name="samples")
    op.create_index(
        "ix_samples_owner_newest",
        "samples",
        ["owner_id", sa.text("created_at DESC NULLS LAST"), "id"],
    )
    op.create_index("ix_samples_owner_camelot", "samples", ["owner_id", "camelot"])


def downgrade() -> None:
    op.drop_index("ix_samples_owner_camelot", table_name="samples")
    op.drop_index("ix_samples_owner_newest", table_name="samples")
    op.create_index("ix_samples_owner_created", "samples", ["owner_id", "created_at"])
