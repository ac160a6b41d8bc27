"""Fixtures for the library: a logged-in user, audio files on disk, upload helpers."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from samplemind.app import create_app
from samplemind.core.config import Settings
from tests.auth.helpers import PASSWORD
from tests.conftest import make_settings, running_client

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "drums"
JOB_TIMEOUT_SECONDS = 120.0


@dataclass
class Account:
    client: httpx.AsyncClient
    token: str
    email: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def upload(
        self, *files: tuple[str, bytes], folder: str | None = None, field: str | None = None
    ) -> httpx.Response:
        name = field or ("file" if len(files) == 1 else "files")
        parts = [(name, (filename, data, "application/octet-stream")) for filename, data in files]
        data = {"folder": folder} if folder else None
        return await self.client.post(
            "/api/v1/audio/upload", files=parts, data=data, headers=self.headers
        )

    async def upload_ok(
        self, *files: tuple[str, bytes], folder: str | None = None
    ) -> list[dict[str, Any]]:
        response = await self.upload(*files, folder=folder)
        assert response.status_code == 201, response.text
        return list(response.json()["items"])

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.get(path, headers=headers, **kwargs)

    async def wait_for_job(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            job = (await self.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] in ("done", "failed"):
                return dict(job)
            await asyncio.sleep(0.2)
        raise AssertionError(f"job {job_id} did not finish: {job}")

    async def wait_until_running(self, job_id: str) -> None:
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            job = (await self.get(f"/api/v1/jobs/{job_id}")).json()
            if job["status"] == "running":
                return
            assert job["status"] == "queued", job
            await asyncio.sleep(0.02)
        raise AssertionError("the job never started")

    async def ingest(
        self, *files: tuple[str, bytes], folder: str | None = None
    ) -> list[dict[str, Any]]:
        """Upload and wait until every new sample is analysed; returns the samples."""
        items = await self.upload_ok(*files, folder=folder)
        for item in items:
            if item["job"] is not None:
                job = await self.wait_for_job(item["job"]["id"])
                assert job["status"] == "done", job
        return [(await self.get(f"/api/v1/audio/{item['sample']['id']}")).json() for item in items]


async def new_account(client: httpx.AsyncClient, email: str) -> Account:
    registered = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    tokens = (
        await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    ).json()
    return Account(client=client, token=tokens["access_token"], email=email)


def library_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"analysis_workers": 1, "job_sweep_seconds": 1.0}
    values.update(overrides)
    return make_settings(database_url, tmp_path, **values)


@pytest.fixture
def library(database_url: str, tmp_path: Path) -> Settings:
    return library_settings(database_url, tmp_path)


@pytest.fixture
async def library_client(library: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(create_app(library)) as client:
        yield client


@pytest.fixture
async def alice(library_client: httpx.AsyncClient) -> Account:
    return await new_account(library_client, "alice@example.com")


@pytest.fixture
async def bob(library_client: httpx.AsyncClient) -> Account:
    return await new_account(library_client, "bob@example.com")


def wav_bytes(
    samples: np.ndarray, sample_rate: int = 44100, subtype: str = "PCM_16", fmt: str = "WAV"
) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, subtype=subtype, format=fmt)
    return buffer.getvalue()


def long_take() -> tuple[str, bytes]:
    """400 s of noise: its analysis takes long enough to act on the job while it runs."""
    rng = np.random.default_rng(7)
    audio = (0.1 * rng.standard_normal(44100 * 400)).astype(np.float32)
    return "long take.wav", wav_bytes(audio)


def corpus_file(label: str, index: int = 0) -> tuple[str, bytes]:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    path = sorted((CORPUS / label).glob("*.flac"))[index]
    return path.name, path.read_bytes()


@dataclass
class DirectoryOutage:
    """A real local-disk failure: the directory is replaced by a regular file, so every
    path under it fails with NotADirectoryError (even for root, unlike chmod)."""

    directory: Path

    @property
    def _away(self) -> Path:
        return self.directory.with_name(f"{self.directory.name}.away")

    def stop(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.rename(self._away)
        self.directory.write_bytes(b"")

    def start(self) -> None:
        self.directory.unlink()
        self._away.rename(self.directory)
