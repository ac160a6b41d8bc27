"""Settings: one class, environment prefix ``SAMPLEMIND_``, refuses unsafe values.

In production a missing or weak secret stops the server. In development a secret
is generated once and kept in the data dir, so tokens survive a restart.
"""

from __future__ import annotations

import math
import os
import secrets
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_LENGTH = 32
MIN_SECRET_ENTROPY_BITS = 128
KNOWN_WEAK_SECRETS = frozenset(
    {"changethis", "secret", "your-secret-key", "your-secret-key-here", "supersecret"}
)
SECRET_FILE_NAME = "secret_key"  # noqa: S105 (a file name)
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_MAIL_FROM = "SampleMind <noreply@localhost>"
DEFAULT_SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_CORS_ORIGINS = (
    "http://localhost:3000",
    "http://127.0.0.1:3000",
    "http://localhost:5173",
    "http://127.0.0.1:5173",
    "http://localhost:8000",
    "http://127.0.0.1:8000",
)


def parse_storage_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix/")``."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"SAMPLEMIND_STORAGE_URL must look like s3://bucket[/prefix], not {url!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def secret_entropy_bits(secret: str) -> float:
    """Shannon entropy of the secret's characters times its length (an upper bound)."""
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return per_char * len(secret)


def weak_secret_reason(secret: str) -> str | None:
    if secret.lower() in KNOWN_WEAK_SECRETS:
        return "is a well-known placeholder"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if secret_entropy_bits(secret) < MIN_SECRET_ENTROPY_BITS:
        return "has too little entropy"
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SAMPLEMIND_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "samplemind"
    secret_key: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_CORS_ORIGINS)
    )
    access_token_expire_minutes: int = Field(default=30, gt=0)
    refresh_token_expire_days: int = Field(default=7, gt=0)
    bcrypt_rounds: int = Field(default=12, ge=12, le=16)
    auth_rate_limit_per_minute: int = Field(default=20, ge=0)
    max_audio_duration_seconds: float = Field(default=1200.0, gt=0)
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    max_request_bytes: int = Field(default=2 * 1024 * 1024 * 1024, gt=0)
    max_files_per_request: int = Field(default=500, gt=0)
    analysis_workers: int | None = Field(default=None, gt=0)
    job_lease_seconds: int = Field(default=300, gt=0)
    job_sweep_seconds: float = Field(default=30.0, gt=0)
    job_max_attempts: int = Field(default=3, gt=0)
    celery_queue: str = "samplemind-analysis"
    ws_heartbeat_seconds: float = Field(default=25.0, gt=0)
    storage_url: str | None = None  # s3://bucket[/prefix]; unset: files under data_dir
    s3_endpoint_url: str | None = None  # any S3-compatible store; unset: AWS
    s3_region: str | None = None
    s3_access_key_id: str | None = None  # unset: boto3's chain (AWS_* variables, roles)
    s3_secret_access_key: SecretStr | None = None
    # Mail (email verification, password reset). Without smtp_host: written to the log
    # in development; in production `serve` refuses to start unless mail_disabled is set
    # (see mail_problem).
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, gt=0, le=65535)  # unset: 587 / 465 / 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_send_attempts: int = Field(default=4, ge=1, le=10)  # a temporary failure is retried
    mail_retry_delay_seconds: float = Field(default=5.0, ge=0, le=600)  # doubles each time
    smtp_ca_file: Path | None = None  # CA bundle for the server's certificate; unset: system
    mail_from: str | None = None
    mail_disabled: bool = False
    public_url: str | None = None  # base of the links in mails
    password_reset_expire_minutes: int = Field(default=60, gt=0)
    email_verification_expire_hours: int = Field(default=48, gt=0)
    mail_rate_limit_per_hour: int = Field(default=5, ge=0)
    # Sign-in with OpenID Connect (samplemind/oauth): Google, and one more issuer of any
    # kind (Keycloak, Auth0, Authentik, …) under the name oauth_oidc_name.
    oauth_google_client_id: str | None = None
    oauth_google_client_secret: SecretStr | None = None
    oauth_oidc_issuer: str | None = None
    oauth_oidc_client_id: str | None = None
    oauth_oidc_client_secret: SecretStr | None = None
    oauth_oidc_name: str = Field(default="oidc", pattern=r"^[a-z][a-z0-9-]{1,30}$")
    # The web app pages a sign-in may send the browser back to, exactly (no prefix or
    # origin matching: an open redirect anywhere on an origin would leak login codes).
    oauth_redirect_uris: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", "oauth_redirect_uris", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, value: str | None) -> str | None:
        if not value:
            return None
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value.removeprefix(prefix)
        return value

    @field_validator("storage_url")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parse_storage_url(value)
        return value

    @field_validator("smtp_host", "smtp_username", "mail_from")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"SAMPLEMIND_PUBLIC_URL must be an http(s) URL, not {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _require_safe_secret(self) -> Self:
        if self.secret_key is not None:
            reason = weak_secret_reason(self.secret_key.get_secret_value())
            if reason and self.env == "production":
                raise ValueError(f"SAMPLEMIND_SECRET_KEY {reason}; refusing to start in production")
        elif self.env == "production":
            raise ValueError(
                "SAMPLEMIND_SECRET_KEY is required in production "
                '(generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return self

    @model_validator(mode="after")
    def _trusted_issuer(self) -> Self:
        """An OpenID issuer's keys and tokens must not come over plain HTTP in production."""
        issuer = self.oauth_oidc_issuer
        if issuer is None:
            return self
        scheme = urlsplit(issuer).scheme
        if scheme not in ("http", "https") or not urlsplit(issuer).netloc:
            raise ValueError(f"SAMPLEMIND_OAUTH_OIDC_ISSUER must be an http(s) URL, not {issuer!r}")
        if scheme != "https" and self.env == "production":
            raise ValueError("SAMPLEMIND_OAUTH_OIDC_ISSUER must be https in production")
        return self

    @model_validator(mode="after")
    def _private_redirects(self) -> Self:
        """Login codes go to these pages: over https in production (plain http only to
        this machine)."""
        if self.env != "production":
            return self
        for uri in self.oauth_redirect_uris:
            parts = urlsplit(uri)
            if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
                raise ValueError(
                    f"SAMPLEMIND_OAUTH_REDIRECT_URIS must be https in production, not {uri!r}"
                )
        return self

    def worker_payload(self) -> dict[str, object]:
        """Everything a worker process needs to rebuild these settings."""
        payload = self.model_dump(mode="json")
        payload["secret_key"] = self.signing_key()
        if self.s3_secret_access_key is not None:
            payload["s3_secret_access_key"] = self.s3_secret_access_key.get_secret_value()
        payload["smtp_password"] = None  # workers send no mail
        return payload

    def mail_problem(self) -> str | None:
        """Why ``serve`` must not start with these mail settings, or None.

        Checked by the API server only (``create_app``): workers and ``migrate`` send no
        mail and need no SMTP settings.
        """
        if self.env != "production" or self.mail_disabled:
            return None
        if self.smtp_host is None:
            return (
                "SAMPLEMIND_SMTP_HOST is required in production: verification and "
                "password-reset mails need it (set SAMPLEMIND_MAIL_DISABLED=true to run "
                "without them)"
            )
        if self.public_url is None:
            return "SAMPLEMIND_PUBLIC_URL is required in production (the base of links in mails)"
        if self.mail_from is None:
            return "SAMPLEMIND_MAIL_FROM is required in production"
        if (
            self.smtp_security == "none"
            and self.smtp_password is not None
            and self.smtp_host not in LOOPBACK_HOSTS
        ):
            return (
                "SAMPLEMIND_SMTP_SECURITY=none would send the SMTP password in clear text; "
                "refusing to start in production"
            )
        return None

    @property
    def effective_smtp_port(self) -> int:
        return self.smtp_port or DEFAULT_SMTP_PORTS[self.smtp_security]

    @property
    def effective_public_url(self) -> str:
        return self.public_url or DEFAULT_PUBLIC_URL

    @property
    def effective_mail_from(self) -> str:
        return self.mail_from or DEFAULT_MAIL_FROM

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def signing_key(self) -> str:
        """The JWT signing secret; in development, generated once and kept in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        self.secret_key = SecretStr(load_or_create_dev_secret(self.data_dir))
        return self.secret_key.get_secret_value()


def load_or_create_dev_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE_NAME
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
