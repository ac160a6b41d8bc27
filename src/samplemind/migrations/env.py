"""Alembic environment: runs on a connection handed over by samplemind.core.migrate."""

from __future__ import annotations

from alembic import context

from samplemind.auth import models as _auth_models  # noqa: F401  (registers tables)
from samplemind.core.db import Base
from samplemind.jobs import models as _job_models  # noqa: F401
from samplemind.samples import models as _sample_models  # noqa: F401

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `samplemind migrate`")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
