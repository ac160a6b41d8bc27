"""Every table, imported together so foreign keys resolve in any process."""

from samplemind.audit.models import AuditEvent
from samplemind.auth.models import AuthSession, AuthToken, RecoveryCode, RevokedToken, User
from samplemind.jobs.models import Job
from samplemind.oauth.models import OAuthIdentity, OAuthLogin
from samplemind.samples.models import Sample

__all__ = [
    "AuditEvent",
    "AuthSession",
    "AuthToken",
    "Job",
    "OAuthIdentity",
    "OAuthLogin",
    "RecoveryCode",
    "RevokedToken",
    "Sample",
    "User",
]
