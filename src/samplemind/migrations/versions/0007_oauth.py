"""sign-in with OpenID Connect: oauth_logins (in progress) and oauth_identities (linked)

Revision ID: 0007_oauth
Revises: 0006_audit_events
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_oauth"
down_revision = "0006_audit_events"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oauth_logins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("client_challenge", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("redirect_to", sa.String(length=2048), nullable=False),
        sa.Column("expires_at", _TIMESTAMP, nullable=False),
        sa.Column("taken_at", _TIMESTAMP, nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("login_code_hash", sa.String(length=64), nullable=True),
        sa.Column("completed_at", _TIMESTAMP, nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oauth_logins_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_logins")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_logins_state_hash")),
        sa.UniqueConstraint("login_code_hash", name=op.f("uq_oauth_logins_login_code_hash")),
    )
    op.create_index(op.f("ix_oauth_logins_expires_at"), "oauth_logins", ["expires_at"])
    op.create_table(
        "oauth_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oauth_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_identities")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_oauth_identities_provider")),
    )
    op.create_index(op.f("ix_oauth_identities_user_id"), "oauth_identities", ["user_id"])


def downgrade() -> None:
    op.drop_table("oauth_identities")
    op.drop_table("oauth_logins")
