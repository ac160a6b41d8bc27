from __future__ import annotations

import httpx
import pytest

from samplemind.auth import service as auth_service
from tests.auth.helpers import PASSWORD, USER_FIELDS, assert_error, login, me, register


async def test_register_returns_the_user(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "Ada@Example.com", "password": PASSWORD, "full_name": "Ada"},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["full_name"] == "Ada"
    assert body["is_active"] is True
    assert body["is_verified"] is False
    assert "password" not in response.text and "hash" not in response.text


async def test_duplicate_email_is_409_case_insensitively(client: httpx.AsyncClient) -> None:
    await register(client, "dup@example.com")
    response = await client.post(
        "/api/v1/auth/register", json={"email": "DUP@example.com", "password": PASSWORD}
    )
    assert_error(response, 409, "email_taken")


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("weak@example.com", "short1!"),
        ("weak@example.com", "password123"),
        ("weak@example.com", "QWERTYUIOP"),
        ("weak@example.com", "weak@example.com"),
        ("longname@example.com", "LongName"),
    ],
)
async def test_weak_passwords_are_422(client: httpx.AsyncClient, email: str, password: str) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    )
    assert_error(response, 422, "weak_password")


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "@example.com", "a b@example.com", ""])
async def test_invalid_email_is_422_without_echoing_input(
    client: httpx.AsyncClient, email: str
) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "Sup3rSecretValue"}
    )
    assert_error(response, 422, "validation_error")
    assert "Sup3rSecretValue" not in response.text


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


async def test_login_returns_a_bearer_pair(client: httpx.AsyncClient) -> None:
    await register(client)
    tokens = await login(client)
    assert tokens["token_type"] == "bearer"
    assert tokens["access_token"] != tokens["refresh_token"]
    response = await me(client, tokens["access_token"])
    assert response.status_code == 200
    assert response.json()["email"] == "test@samplemind.ai"


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    await register(client, "case@example.com")
    await login(client, "CASE@Example.com")


async def test_login_failure_is_the_same_for_unknown_email_and_wrong_password(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client)
    verified: list[str] = []
    real_verify = auth_service.verify_password_async

    async def counting_verify(password: str, hashed: str) -> bool:
        verified.append(hashed)
        return await real_verify(password, hashed)

    monkeypatch.setattr(auth_service, "verify_password_async", counting_verify)
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "test@samplemind.ai", "password": "WrongPass123!"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@samplemind.ai", "password": "WrongPass123!"}
    )
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    assert wrong.json() == unknown.json()
    # Both paths pay for one bcrypt verification at the same cost.
    assert len(verified) == 2
    assert verified[0][:7] == verified[1][:7] == "$2b$12$"
