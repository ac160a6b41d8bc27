"""Sign-ins through an OpenID Connect provider in progress, and the provider accounts
linked to users."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from samplemind.core.db import Base, Timestamps, UUIDPrimaryKey


class OAuthLogin(UUIDPrimaryKey, Timestamps, Base):
    """One sign-in, from the redirect to the provider until the client takes its tokens.

    Only hashes of the ``state`` and of the one-time login code are stored.
    """

    __tablename__ = "oauth_logins"

    provider: Mapped[str] = mapped_column(String(32))
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_verifier: Mapped[str] = mapped_column(String(128))  # PKCE towards the provider
    client_challenge: Mapped[str] = mapped_column(String(128))  # the web app's PKCE, S256
    nonce: Mapped[str] = mapped_column(String(64))
    redirect_to: Mapped[str] = mapped_column(String(2048))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    taken_at: Mapped[datetime | None]  # the provider's callback arrived: the state is used
    # Set by the provider's callback:
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    login_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Set once the client has exchanged the login code for tokens:
    completed_at: Mapped[datetime | None]


class OAuthIdentity(UUIDPrimaryKey, Timestamps, Base):
    """A provider's account (``provider``, its ``sub``) linked to one of our users."""

    __tablename__ = "oauth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
