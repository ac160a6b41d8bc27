"""Every table, imported together so foreign keys resolve in any process."""

from samplemind.auth.models import AuthSession, AuthToken, RevokedToken, User
from samplemind.jobs.models import Job
from samplemind.samples.models import Sample

__all__ = ["AuthSession", "AuthToken", "Job", "RevokedToken", "Sample", "User"]
