from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

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


def test_production_accepts_a_strong_secret() -> None:
    settings = _settings(env="production", secret_key="Zk2v9QhR4mWp7Lx1Ny8Tb3Fc6Jd0Gs5Ua2Ke")
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
