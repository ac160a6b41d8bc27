"""Every table, imported together so foreign keys resolve in any process."""

from samplemind.auth.models import AuthSession, RevokedToken, User
from samplemind.jobs.models import Job
from samplemind.samples.models import Sample

__all__ = ["AuthSession", "Job", "RevokedToken", "Sample", "User"]
