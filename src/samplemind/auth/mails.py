"""The text of the mails the auth flows send."""

from __future__ import annotations

from urllib.parse import urlencode

from samplemind.core.config import Settings
from samplemind.core.mail import Mail


def _link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.effective_public_url}{path}?{urlencode({'token': token})}"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _greeting(full_name: str | None) -> str:
    return f"Hello {full_name}," if full_name else "Hello,"


def password_reset_mail(settings: Settings, *, to: str, full_name: str | None, token: str) -> Mail:
    minutes = settings.password_reset_expire_minutes
    lifetime = _plural(minutes // 60, "hour") if minutes % 60 == 0 else _plural(minutes, "minute")
    return Mail(
        to=to,
        subject="Reset your SampleMind password",
        text=(
            f"{_greeting(full_name)}\n\n"
            "Someone asked to reset the password of your SampleMind account.\n"
            "To choose a new password, open this link:\n\n"
            f"{_link(settings, '/reset-password', token)}\n\n"
            "or send this token to POST /api/v1/auth/password-reset/confirm:\n\n"
            f"{token}\n\n"
            f"The link works once, for {lifetime}. Setting a new password signs you out\n"
            "everywhere. If you did not ask for this, ignore this mail: your password\n"
            "stays as it is.\n"
        ),
    )


def verification_mail(settings: Settings, *, to: str, full_name: str | None, token: str) -> Mail:
    lifetime = _plural(settings.email_verification_expire_hours, "hour")
    return Mail(
        to=to,
        subject="Confirm your email address for SampleMind",
        text=(
            f"{_greeting(full_name)}\n\n"
            "Please confirm that this is your email address by opening this link:\n\n"
            f"{_link(settings, '/verify-email', token)}\n\n"
            "or send this token to POST /api/v1/auth/verify-email/confirm:\n\n"
            f"{token}\n\n"
            f"The link works once, for {lifetime}. If you did not create a SampleMind\n"
            "account, ignore this mail.\n"
        ),
    )
