from __future__ import annotations

from pathlib import Path

import httpx
from threadpoolctl import threadpool_info, threadpool_limits

from samplemind.app import create_app
from tests.auth.helpers import assert_error
from tests.conftest import REDIS_URL, make_settings, running_client


async def test_root_lists_the_service_links(client: httpx.AsyncClient) -> None:
    body = (await client.get("/")).json()
    assert body["name"] == "SampleMind API"
    assert body["docs"] == "/api/docs" and body["redoc"] == "/api/redoc"


async def test_docs_and_schema_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/docs")).status_code == 200
    assert (await client.get("/api/redoc")).status_code == 200
    schema = (await client.get("/api/openapi.json")).json()
    for path in ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/me", "/health"):
        assert path in schema["paths"]


async def test_status_reports_the_backends(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/status")).json()
    assert body["api_version"] == "v1"
    assert body["token_revocation"] == "postgresql"


async def test_health_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "disabled"


async def test_health_checks_redis_when_configured(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, redis_url=REDIS_URL)
    async with running_client(create_app(settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"]["status"] == "ok"


async def test_health_is_503_when_redis_is_down(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, redis_url="redis://127.0.0.1:1/0")
    async with running_client(create_app(settings)) as client:
        response = await client.get("/health")
    assert_error(response, 503, "service_unavailable")
    checks = response.json()["error"]["details"]["checks"]
    assert checks["redis"]["status"] == "error"
    assert checks["database"]["status"] == "ok"


async def test_health_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/none", tmp_path)
    async with running_client(create_app(settings)) as client:
        response = await client.get("/health")
    assert_error(response, 503, "service_unavailable")
    assert response.json()["error"]["details"]["checks"]["database"]["status"] == "error"


async def test_unknown_path_and_wrong_method_use_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(await client.get("/api/v1/auth/login"), 405, "method_not_allowed")


async def test_cors_allows_the_local_dev_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    denied = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in denied.headers


def _blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


async def test_the_api_process_runs_blas_on_one_thread_while_it_serves(
    database_url: str, tmp_path: Path
) -> None:
    """Clips searched by sound are analysed in the API process; OpenBLAS's helper
    threads would only spin there (and, with the other core busy, slow it down)."""
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == {2}
        async with running_client(create_app(make_settings(database_url, tmp_path))) as client:
            assert (await client.get("/health")).status_code == 200
            assert _blas_threads() == {1}
        assert _blas_threads() == {2}  # given back when the app stops


async def test_blas_stays_on_one_thread_until_the_last_app_stops(
    database_url: str, tmp_path: Path
) -> None:
    first, second = (create_app(make_settings(database_url, tmp_path)) for _ in range(2))
    with threadpool_limits(limits=2, user_api="blas"):
        first_life = first.router.lifespan_context(first)
        second_life = second.router.lifespan_context(second)
        await first_life.__aenter__()
        await second_life.__aenter__()
        await first_life.__aexit__(None, None, None)  # not the last one started
        assert _blas_threads() == {1}
        await second_life.__aexit__(None, None, None)
        assert _blas_threads() == {2}
