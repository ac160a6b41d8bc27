"""``GET /``, ``GET /health`` and ``GET /api/v1/status``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from samplemind import __version__
from samplemind.core.errors import error_body

router = APIRouter(tags=["service"])
CHECK_TIMEOUT_SECONDS = 2.0


async def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def _ping_database(request: Request) -> None:
    async with request.app.state.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


@router.get("/")
async def root() -> dict[str, Any]:
    return {
        "name": "SampleMind API",
        "version": __version__,
        "docs": "/api/docs",
        "redoc": "/api/redoc",
        "openapi": "/api/openapi.json",
        "health": "/health",
        "status": "/api/v1/status",
    }


@router.get("/health", responses={503: {"description": "service_unavailable"}})
async def health(request: Request) -> JSONResponse:
    checks = {"database": await _timed(_ping_database(request))}
    redis = request.app.state.redis
    checks["redis"] = await _timed(redis.ping()) if redis is not None else {"status": "disabled"}
    checks["storage"] = await _timed(asyncio.to_thread(request.app.state.storage.ping))
    failed = sorted(name for name, check in checks.items() if check["status"] == "error")
    if failed:
        body = error_body(
            "service_unavailable", f"Unavailable: {', '.join(failed)}", {"checks": checks}
        )
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__, "checks": checks})


@router.get("/api/v1/status")
async def status(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    return {
        "api_version": "v1",
        "version": __version__,
        "environment": settings.env,
        "database": "external" if settings.database_url else "embedded",
        "token_revocation": "redis" if request.app.state.redis is not None else "postgresql",
        "storage": "s3" if settings.storage_url else "local",
        "endpoints": {
            "auth": [
                "POST /api/v1/auth/register",
                "POST /api/v1/auth/login",
                "POST /api/v1/auth/refresh",
                "POST /api/v1/auth/logout",
                "POST /api/v1/auth/logout-all",
                "GET /api/v1/auth/me",
                "GET /api/v1/auth/sessions",
            ],
        },
    }
