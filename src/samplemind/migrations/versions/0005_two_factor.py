"""two-factor sign-in: users' TOTP columns and single-use recovery codes

Revision ID: 0005_two_factor
Revises: 0004_auth_tokens
Create Date: 2026-12-02

TOTP secrets are stored sealed (AES-GCM under a key derived from the server's
secret key); recovery codes as SHA-256 only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_two_factor"
down_revision = "0004_auth_tokens"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("totp_secret", sa.String(length=200), nullable=True))
    op.add_column("users", sa.Column("totp_pending_secret", sa.String(length=200), nullable=True))
    op.add_column("users", sa.Column("totp_enabled_at", _TIMESTAMP, nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column(
        "users", sa.Column("totp_failures", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("users", sa.Column("totp_locked_until", _TIMESTAMP, nullable=True))
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", _TIMESTAMP, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_table("recovery_codes")
    for column in (
        "totp_locked_until",
        "totp_failures",
        "totp_last_step",
        "totp_enabled_at",
        "totp_pending_secret",
        "totp_secret",
    ):
        op.drop_column("users", column)
