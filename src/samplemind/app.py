"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis

from samplemind import __version__
from samplemind.analysis.batch import limit_blas_threads
from samplemind.audit.context import RequestClientMiddleware
from samplemind.audit.endpoints import router as audit_router
from samplemind.auth.denylist import PostgresDenylist, RedisDenylist, TokenDenylist
from samplemind.auth.endpoints import router as auth_router
from samplemind.auth.pages import router as auth_pages_router
from samplemind.auth.service import AuthService
from samplemind.core.background import DetachedTasks
from samplemind.core.config import Settings, get_settings
from samplemind.core.db import create_engine, create_sessionmaker
from samplemind.core.errors import install_error_handlers
from samplemind.core.health import router as service_router
from samplemind.core.logs import redact_server_logs
from samplemind.core.mail import Mailer
from samplemind.core.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from samplemind.jobs.endpoints import router as jobs_router
from samplemind.jobs.events import (
    PostgresEventHub,
    PostgresEventPublisher,
    RedisEventHub,
    RedisEventPublisher,
)
from samplemind.jobs.queue import CeleryJobQueue, LocalJobQueue
from samplemind.oauth.endpoints import router as oauth_router
from samplemind.oauth.providers import configured_providers
from samplemind.oauth.service import OAuthService
from samplemind.samples.endpoints import router as audio_router
from samplemind.samples.storage import create_storage, remove_stale_dirs
from samplemind.search.endpoints import router as search_router

DECODE_SLOTS = 2  # uploads decoded at once for validation, per API process


def _start_library(app: FastAPI, settings: Settings, redis: Redis | None) -> None:
    app.state.storage = create_storage(settings)
    app.state.query_clips_dir = settings.data_dir / "query-clips"
    remove_stale_dirs(app.state.query_clips_dir)
    app.state.decode_slots = asyncio.Semaphore(DECODE_SLOTS)
    if redis is not None:
        app.state.event_publisher = RedisEventPublisher(redis, prefix=settings.redis_prefix)
        app.state.event_hub = RedisEventHub(redis, prefix=settings.redis_prefix)
        app.state.job_queue = CeleryJobQueue(settings)
    else:
        assert settings.database_url is not None
        app.state.event_publisher = PostgresEventPublisher()
        app.state.event_hub = PostgresEventHub(settings.database_url)
        app.state.job_queue = LocalJobQueue(settings, app.state.sessionmaker)


class _SingleThreadedBlas:
    """BLAS on one thread while any app of this process serves.

    A clip searched by sound is analysed in the API process (the job workers limit their
    own), and BLAS helper threads only spin on the engine's small products. The limit is
    process-wide, so it is counted: the old one comes back when the last app stops.
    """

    def __init__(self) -> None:
        self._holders = 0
        self._restore: Callable[[], None] | None = None

    def hold(self) -> None:
        if self._holders == 0:
            self._restore = limit_blas_threads()
        self._holders += 1

    def release(self) -> None:
        self._holders -= 1
        if self._holders == 0 and self._restore is not None:
            self._restore()
            self._restore = None


_SINGLE_THREADED_BLAS = _SingleThreadedBlas()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; ``settings.database_url`` must point at a migrated database."""
    settings = settings or get_settings()
    mail_problem = settings.mail_problem()
    if mail_problem:
        raise RuntimeError(mail_problem)
    redact_server_logs()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise RuntimeError("create_app needs settings.database_url (serve sets it)")
        settings.signing_key()  # fail at start-up, not at first login
        engine = create_engine(settings.database_url)
        sessionmaker = create_sessionmaker(engine)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        denylist: TokenDenylist
        rate_limiter: RateLimiter
        if redis is not None:
            denylist = RedisDenylist(redis, prefix=settings.redis_prefix)
            rate_limiter = RedisRateLimiter(redis, prefix=settings.redis_prefix)
        else:
            denylist = PostgresDenylist(sessionmaker)
            rate_limiter = MemoryRateLimiter()
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker
        app.state.redis = redis
        app.state.rate_limiter = rate_limiter
        background = DetachedTasks()
        app.state.background = background
        app.state.auth_service = AuthService(
            settings,
            denylist,
            sessionmaker=sessionmaker,
            mailer=Mailer(settings),
            background=background,
        )
        app.state.oauth_service = OAuthService(
            settings, configured_providers(settings), app.state.auth_service
        )
        _start_library(app, settings, redis)
        await app.state.event_hub.start()
        await app.state.job_queue.start()
        _SINGLE_THREADED_BLAS.hold()
        try:
            yield
        finally:
            _SINGLE_THREADED_BLAS.release()
            # Mails still on their way get the SMTP timeout to finish.
            await background.close(grace_seconds=settings.smtp_timeout_seconds + 5)
            await app.state.job_queue.stop()
            await app.state.event_hub.stop()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="SampleMind API",
        version=__version__,
        description="Analyse, search and organise audio samples.",
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(RequestClientMiddleware)
    install_error_handlers(app)
    app.include_router(service_router)
    app.include_router(auth_pages_router)
    api = APIRouter(prefix="/api/v1")
    api.include_router(auth_router)
    api.include_router(oauth_router)
    api.include_router(audio_router)
    api.include_router(search_router)
    api.include_router(jobs_router)
    api.include_router(audit_router)
    app.include_router(api)
    return app
