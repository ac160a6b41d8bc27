from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from samplemind.app import create_app
from samplemind.core.config import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_production_refuses_a_missing_secret() -> None:
    with pytest.raises(ValidationError, match="required in production"):
        _settings(env="production")


@pytest.mark.parametrize(
    "secret", ["changethis", "short-secret", "a" * 64, "abababababababababababababababab"]
)
def test_production_refuses_a_weak_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="refusing to start in production"):
        _settings(env="production", secret_key=secret)


STRONG_SECRET = "Zk2v9QhR4mWp7Lx1Ny8Tb3Fc6Jd0Gs5Ua2Ke"
PRODUCTION_MAIL = {
    "smtp_host": "smtp.example.com",
    "public_url": "https://samples.example.com/",
    "mail_from": "SampleMind <noreply@example.com>",
}


def test_production_accepts_a_strong_secret() -> None:
    settings = _settings(env="production", secret_key=STRONG_SECRET)
    assert settings.signing_key().startswith("Zk2v")


def test_development_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    first = _settings(data_dir=tmp_path).signing_key()
    second = _settings(data_dir=tmp_path).signing_key()
    assert first == second
    assert len(first) >= 48


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLEMIND_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("SAMPLEMIND_ACCESS_TOKEN_EXPIRE_MINUTES", "5")
    monkeypatch.setenv("SAMPLEMIND_DATABASE_URL", "postgresql://u@db/x")
    settings = _settings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.access_token_expire_minutes == 5
    assert settings.database_url == "postgresql+asyncpg://u@db/x"


def test_bcrypt_cost_below_12_is_refused() -> None:
    with pytest.raises(ValidationError):
        _settings(bcrypt_rounds=10)


def test_production_serve_refuses_to_start_without_a_mail_server() -> None:
    settings = _settings(env="production", secret_key=STRONG_SECRET)
    assert settings.mail_problem() is not None
    assert "SMTP_HOST is required in production" in str(settings.mail_problem())
    with pytest.raises(RuntimeError, match="SAMPLEMIND_MAIL_DISABLED=true"):
        create_app(settings)
    opted_out = _settings(env="production", secret_key=STRONG_SECRET, mail_disabled=True)
    assert opted_out.mail_problem() is None
    create_app(opted_out)  # builds; mails are dropped (DisabledTransport)


def test_serve_command_says_why_it_refuses(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SAMPLEMIND_")},
        "SAMPLEMIND_ENV": "production",
        "SAMPLEMIND_SECRET_KEY": STRONG_SECRET,
        "SAMPLEMIND_DATA_DIR": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "samplemind.cli", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1
    assert "SAMPLEMIND_SMTP_HOST is required in production" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before starting a database


@pytest.mark.parametrize(
    ("missing", "named"), [("public_url", "PUBLIC_URL"), ("mail_from", "MAIL_FROM")]
)
def test_production_mail_needs_a_public_url_and_a_sender(missing: str, named: str) -> None:
    values = {key: value for key, value in PRODUCTION_MAIL.items() if key != missing}
    problem = _settings(env="production", secret_key=STRONG_SECRET, **values).mail_problem()
    assert problem is not None
    assert f"SAMPLEMIND_{named} is required in production" in problem


def test_production_with_mail_configured_starts() -> None:
    settings = _settings(env="production", secret_key=STRONG_SECRET, **PRODUCTION_MAIL)
    assert settings.mail_problem() is None
    assert settings.effective_public_url == "https://samples.example.com"
    assert settings.effective_smtp_port == 587


def test_production_refuses_an_smtp_password_in_clear_text() -> None:
    clear = _settings(
        env="production",
        secret_key=STRONG_SECRET,
        smtp_security="none",
        smtp_username="mailer",
        smtp_password="hunter2-hunter2",
        **PRODUCTION_MAIL,
    )
    assert "clear text" in str(clear.mail_problem())
    # A relay on the same machine may take a password without TLS.
    local = {**PRODUCTION_MAIL, "smtp_host": "127.0.0.1"}
    relay = _settings(
        env="production",
        secret_key=STRONG_SECRET,
        smtp_security="none",
        smtp_password="hunter2-hunter2",
        **local,
    )
    assert relay.mail_problem() is None


def test_mail_defaults_in_development() -> None:
    settings = _settings()
    assert settings.smtp_host is None
    assert settings.effective_public_url == "http://127.0.0.1:8000"
    assert settings.effective_smtp_port == 587
    assert _settings(smtp_security="ssl").effective_smtp_port == 465
    assert _settings(smtp_port=2525).effective_smtp_port == 2525
    assert settings.password_reset_expire_minutes == 60
    assert settings.email_verification_expire_hours == 48


def test_public_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="must be an http"):
        _settings(public_url="javascript:alert(1)")


def test_worker_payload_leaves_the_smtp_password_out() -> None:
    payload = _settings(
        smtp_host="smtp.example.com", smtp_password="hunter2-hunter2"
    ).worker_payload()
    assert payload["smtp_password"] is None
    assert "hunter2" not in repr(payload)


def test_an_openid_issuer_must_be_https_in_production() -> None:
    plain = "http://idp.example.com"
    with pytest.raises(ValidationError, match="must be https in production"):
        _settings(env="production", secret_key=STRONG_SECRET, oauth_oidc_issuer=plain)
    assert _settings(oauth_oidc_issuer=plain).oauth_oidc_issuer == plain
    with pytest.raises(ValidationError, match="must be an http"):
        _settings(oauth_oidc_issuer="idp.example.com")


def test_login_code_pages_must_be_https_in_production() -> None:
    with pytest.raises(ValidationError, match="REDIRECT_URIS must be https in production"):
        _settings(
            env="production",
            secret_key=STRONG_SECRET,
            oauth_redirect_uris=["http://app.example.com/signed-in"],
        )
    local = _settings(
        env="production",
        secret_key=STRONG_SECRET,
        oauth_redirect_uris="https://app.example.com/signed-in,http://localhost:3000/in",
    )
    assert local.oauth_redirect_uris == [
        "https://app.example.com/signed-in",
        "http://localhost:3000/in",
    ]
