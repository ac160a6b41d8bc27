"""Two-factor sign-in: TOTP known answers (RFC 4226 / RFC 6238), sealed secrets, and the
whole flow through the API against the real database."""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from samplemind.auth import totp
from samplemind.auth.models import RecoveryCode, User
from samplemind.auth.sealing import UnsealError, seal, unseal
from samplemind.auth.service import ClientInfo
from samplemind.auth.two_factor import MAX_FAILURES, lock_duration, recovery_code_hash
from samplemind.core.config import Settings
from samplemind.core.errors import Unauthorized
from tests.auth.helpers import PASSWORD, assert_error, bearer, login, me, register

RFC_SECRET = b"12345678901234567890"


def test_hotp_matches_rfc_4226_appendix_d() -> None:
    expected = ["755224", "287082", "359152", "969429", "338314"]
    expected += ["254676", "287922", "162583", "399871", "520489"]
    assert [totp.hotp(RFC_SECRET, counter) for counter in range(10)] == expected


@pytest.mark.parametrize(
    ("unix_time", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_totp_matches_rfc_6238_appendix_b(unix_time: int, code: str) -> None:
    assert totp.hotp(RFC_SECRET, totp.time_step(unix_time), digits=8) == code


def test_matching_step_accepts_one_step_of_drift_and_never_a_used_step() -> None:
    now = 1_700_000_015.0
    step = totp.time_step(now)
    code = totp.hotp(RFC_SECRET, step)
    assert totp.matching_step(RFC_SECRET, code, unix_time=now, after=None) == step
    assert totp.matching_step(RFC_SECRET, f" {code[:3]} {code[3:]} ", unix_time=now, after=None)
    for drift in (-1, 1):
        drifted = totp.hotp(RFC_SECRET, step + drift)
        assert totp.matching_step(RFC_SECRET, drifted, unix_time=now, after=None) == step + drift
    for far in (-2, 2):
        distant = totp.hotp(RFC_SECRET, step + far)
        assert totp.matching_step(RFC_SECRET, distant, unix_time=now, after=None) is None
    assert totp.matching_step(RFC_SECRET, code, unix_time=now, after=step) is None
    for malformed in ("", "12345", "1234567", "12a456", "１２３４５６"):
        assert totp.matching_step(RFC_SECRET, malformed, unix_time=now, after=None) is None


def test_provisioning_uri_carries_the_secret_for_authenticator_apps() -> None:
    uri = urlparse(totp.provisioning_uri(RFC_SECRET, account="a+b@example.com"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == "/SampleMind:a%2Bb@example.com"
    query = parse_qs(uri.query)
    assert base64.b32decode(query["secret"][0]) == RFC_SECRET
    assert query["issuer"] == ["SampleMind"]
    assert (query["digits"], query["period"], query["algorithm"]) == (["6"], ["30"], ["SHA1"])


def test_sealed_secrets_open_only_with_the_same_key_purpose_and_row() -> None:
    sealed = seal(b"secret", secret_key="k" * 40, purpose="totp secret", bound_to="user-1")
    assert b"secret" not in base64.urlsafe_b64decode(sealed.split(".", 1)[1])
    assert unseal(sealed, secret_key="k" * 40, purpose="totp secret", bound_to="user-1") == (
        b"secret"
    )
    for key, purpose, row in [
        ("j" * 40, "totp secret", "user-1"),
        ("k" * 40, "totp pending secret", "user-1"),
        ("k" * 40, "totp secret", "user-2"),
    ]:
        with pytest.raises(UnsealError):
            unseal(sealed, secret_key=key, purpose=purpose, bound_to=row)
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(UnsealError):
        unseal(tampered, secret_key="k" * 40, purpose="totp secret", bound_to="user-1")


# --- the API ------------------------------------------------------------------------


def _code(secret: str, *, steps_ahead: int = 0, step: int | None = None) -> str:
    """The code of ``step`` (default: now), ``steps_ahead`` later."""
    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return totp.hotp(raw, (_step() if step is None else step) + steps_ahead)


def _step() -> int:
    return totp.time_step(time.time())


async def _login(client: httpx.AsyncClient, otp_code: str | None = None) -> httpx.Response:
    body = {"email": "test@samplemind.ai", "password": PASSWORD}
    if otp_code is not None:
        body["otp_code"] = otp_code
    return await client.post("/api/v1/auth/login", json=body)


async def _enable(client: httpx.AsyncClient, access: str) -> tuple[str, list[str]]:
    """Two-factor sign-in on; returns the base32 secret and the recovery codes."""
    setup = await client.post(
        "/api/v1/auth/2fa/setup", json={"password": PASSWORD}, headers=bearer(access)
    )
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    enabled = await client.post(
        "/api/v1/auth/2fa/enable", json={"code": _code(secret)}, headers=bearer(access)
    )
    assert enabled.status_code == 200, enabled.text
    return secret, enabled.json()["recovery_codes"]


async def test_setup_needs_the_password_and_a_matching_code(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    wrong = await client.post(
        "/api/v1/auth/2fa/setup", json={"password": "not it"}, headers=bearer(access)
    )
    assert_error(wrong, 400, "invalid_password")
    assert_error(
        await client.post(
            "/api/v1/auth/2fa/enable", json={"code": "123456"}, headers=bearer(access)
        ),
        400,
        "no_pending_setup",
    )
    setup = await client.post(
        "/api/v1/auth/2fa/setup", json={"password": PASSWORD}, headers=bearer(access)
    )
    secret = setup.json()["secret"]
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/SampleMind:test@samplemind.ai?")
    wrong_code = f"{(int(_code(secret)) + 1) % 1_000_000:06d}"
    bad = await client.post(
        "/api/v1/auth/2fa/enable", json={"code": wrong_code}, headers=bearer(access)
    )
    assert_error(bad, 400, "invalid_otp")
    # Until a code is confirmed, sign-in is unchanged.
    assert (await _login(client)).status_code == 200
    assert (await me(client, access)).json()["two_factor_enabled"] is False


async def _last_step(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            step = await connection.scalar(select(User.totp_last_step))
    finally:
        await engine.dispose()
    assert isinstance(step, int)
    return step


async def test_login_asks_for_the_code_once_two_factor_is_on(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    secret, codes = await _enable(client, access)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"([a-z2-9]{4}-){3}[a-z2-9]{4}", code) for code in codes)
    assert (await me(client, access)).json()["two_factor_enabled"] is True

    assert_error(await _login(client), 401, "otp_required")
    # The code used to enable it cannot be replayed (whatever step the clock is in now);
    # the next step's code works once.
    enabled_step = await _last_step(database_url)
    assert_error(await _login(client, _code(secret, step=enabled_step)), 401, "invalid_otp")
    next_code = _code(secret, step=enabled_step, steps_ahead=1)
    signed_in = await _login(client, next_code)
    assert signed_in.status_code == 200, signed_in.text
    assert (await me(client, signed_in.json()["access_token"])).status_code == 200
    assert_error(await _login(client, next_code), 401, "invalid_otp")


async def test_a_wrong_password_says_nothing_about_the_second_factor(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    secret, _ = await _enable(client, (await login(client))["access_token"])
    response = await client.post(
        "/api/v1/auth/login",
        json={
            "email": "test@samplemind.ai",
            "password": "wrong",
            "otp_code": _code(secret, steps_ahead=1),
        },
    )
    assert_error(response, 401, "invalid_credentials")


async def test_each_recovery_code_signs_in_once(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    _, codes = await _enable(client, access)
    assert (await _login(client, codes[0].upper().replace("-", " "))).status_code == 200
    assert_error(await _login(client, codes[0]), 401, "invalid_otp")
    status = await client.get("/api/v1/auth/2fa", headers=bearer(access))
    assert status.json()["enabled"] is True
    assert status.json()["recovery_codes_left"] == 9


async def test_new_recovery_codes_replace_the_old_ones(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    _, old_codes = await _enable(client, access)
    renewed = await client.post(
        "/api/v1/auth/2fa/recovery-codes", json={"code": old_codes[1]}, headers=bearer(access)
    )
    assert renewed.status_code == 200, renewed.text
    new_codes = renewed.json()["recovery_codes"]
    assert not set(new_codes) & set(old_codes)
    assert_error(await _login(client, old_codes[2]), 401, "invalid_otp")
    assert (await _login(client, new_codes[0])).status_code == 200


async def test_disabling_needs_the_password_and_a_code(client: httpx.AsyncClient) -> None:
    await register(client)
    access = (await login(client))["access_token"]
    secret, codes = await _enable(client, access)
    url = "/api/v1/auth/2fa/disable"
    no_password = {"password": "wrong", "code": codes[0]}
    assert_error(
        await client.post(url, json=no_password, headers=bearer(access)), 400, "invalid_password"
    )
    wrong_code = {"password": PASSWORD, "code": "000000x"}
    assert_error(
        await client.post(url, json=wrong_code, headers=bearer(access)), 400, "invalid_otp"
    )
    right = {"password": PASSWORD, "code": _code(secret, steps_ahead=1)}
    assert (await client.post(url, json=right, headers=bearer(access))).status_code == 200
    assert (await _login(client)).status_code == 200
    assert_error(await client.post(url, json=right, headers=bearer(access)), 409)


async def test_wrong_codes_lock_the_second_factor(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client)
    secret, _ = await _enable(client, (await login(client))["access_token"])
    right = _code(secret, steps_ahead=1)
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"
    for _ in range(MAX_FAILURES):
        assert_error(await _login(client, wrong), 401, "invalid_otp")
    locked = await _login(client, right)
    assert_error(locked, 429, "two_factor_locked")
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            user = (await connection.execute(select(User.__table__))).one()
    finally:
        await engine.dispose()
    # The count goes on until a right code: the next lock lasts twice as long.
    assert user.totp_locked_until is not None and user.totp_failures == MAX_FAILURES
    # A wrong password never reaches the second factor, so it cannot lock it.


async def test_the_secret_and_the_codes_are_not_stored_in_the_clear(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client)
    secret, codes = await _enable(client, (await login(client))["access_token"])
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            user = (await connection.execute(select(User.__table__))).one()
            hashes = set((await connection.execute(select(RecoveryCode.code_hash))).scalars())
    finally:
        await engine.dispose()
    assert user.totp_secret.startswith("v1.") and secret not in user.totp_secret
    assert user.totp_pending_secret is None
    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    opened = unseal(
        user.totp_secret,
        secret_key=settings.signing_key(),
        purpose="totp secret",
        bound_to=str(user.id),
    )
    assert opened == raw
    assert hashes == {recovery_code_hash(code, user_id=user.id) for code in codes}
    assert not hashes & set(codes)


def test_each_lock_lasts_twice_as_long_up_to_a_day() -> None:
    assert [lock_duration(MAX_FAILURES * n) for n in (1, 2, 3)] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
    ]
    assert lock_duration(MAX_FAILURES * 40) == timedelta(hours=24)


def test_recovery_codes_are_hashed_per_user() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    code = "k7mq-x2c9-pz4t-h8wd"
    assert recovery_code_hash(code, user_id=first) != recovery_code_hash(code, user_id=second)
    assert recovery_code_hash(" K7MQ X2C9-PZ4T h8wd ", user_id=first) == recovery_code_hash(
        code, user_id=first
    )


async def test_turning_it_on_ends_the_other_sessions(client: httpx.AsyncClient) -> None:
    await register(client)
    other = (await login(client))["access_token"]
    current = (await login(client))["access_token"]
    await _enable(client, current)
    assert_error(await me(client, other), 401, "session_revoked")
    assert (await me(client, current)).status_code == 200


async def test_a_login_that_raced_a_security_change_is_refused(client: httpx.AsyncClient) -> None:
    """``start_session`` reads the user again under a lock: a login whose password check
    ran before two-factor sign-in was turned on, or before the password changed, gets
    no session."""
    await register(client)
    access = (await login(client))["access_token"]
    app = client._transport.app  # type: ignore[attr-defined]
    service, sessionmaker = app.state.auth_service, app.state.sessionmaker
    async with sessionmaker() as db:
        stale = await db.scalar(select(User))  # as a login read it
    await _enable(client, access)
    async with sessionmaker() as db:
        with pytest.raises(Unauthorized) as raised:
            await service.start_session(
                db, stale, ClientInfo(), second_factor=None, verified_hash=stale.hashed_password
            )
    assert raised.value.code == "otp_required"
    async with sessionmaker() as db:
        with pytest.raises(Unauthorized) as raised:
            await service.start_session(
                db, stale, ClientInfo(), second_factor="totp", verified_hash="an older hash"
            )
    assert raised.value.code == "invalid_credentials"
