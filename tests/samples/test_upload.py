"""Uploads: stored once, analysed in the background, bad input refused with nothing left."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from samplemind.analysis.synthetic.rhythm import drum_loop
from samplemind.app import create_app
from samplemind.core.config import Settings
from samplemind.jobs.models import Job
from samplemind.samples.models import Sample
from tests.auth.helpers import assert_error
from tests.conftest import running_client
from tests.samples.conftest import Account, corpus_file, library_settings, new_account, wav_bytes


async def _row_counts(settings: Settings) -> tuple[int, int]:
    assert settings.database_url
    engine = create_async_engine(settings.database_url)
    async with engine.connect() as connection:
        samples = await connection.scalar(select(func.count()).select_from(Sample))
        jobs = await connection.scalar(select(func.count()).select_from(Job))
    await engine.dispose()
    return int(samples or 0), int(jobs or 0)


def _stored_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "audio"
    return [path for path in root.rglob("*") if path.is_file()]


async def test_upload_stores_analyses_and_reports_the_job(
    alice: Account, library: Settings
) -> None:
    name, data = corpus_file("bd")
    response = await alice.upload((name, data))
    assert response.status_code == 201
    [item] = response.json()["items"]
    assert item["duplicate"] is False
    assert item["job"]["status"] == "queued"
    assert item["sample"]["status"] == "pending"
    assert item["sample"]["original_filename"] == name
    job = await alice.wait_for_job(item["job"]["id"])
    assert job["status"] == "done" and job["progress"] == 100
    sample = (await alice.get(f"/api/v1/audio/{item['sample']['id']}")).json()
    assert sample["status"] == "ready"
    assert sample["kind"] == "one_shot"
    assert sample["key"] is None  # a kick has no key
    assert sample["analysis"]["sha256"] == sample["content_sha256"]
    assert sample["duration"] > 0 and sample["loudness_lufs"] is not None
    assert [p.name for p in _stored_files(library)] == [sample["content_sha256"]]


async def test_reupload_returns_the_existing_sample_as_duplicate(
    alice: Account, library: Settings
) -> None:
    name, data = corpus_file("sd")
    [first] = await alice.upload_ok((name, data))
    [again] = await alice.upload_ok(("renamed copy.flac", data))
    assert again["duplicate"] is True
    assert again["sample"]["id"] == first["sample"]["id"]
    assert await _row_counts(library) == (1, 1)
    assert len(_stored_files(library)) == 1


async def test_same_content_from_two_users_is_stored_once(
    alice: Account, bob: Account, library: Settings
) -> None:
    name, data = corpus_file("cp")
    [mine] = await alice.upload_ok((name, data))
    [theirs] = await bob.upload_ok((name, data))
    assert theirs["duplicate"] is False
    assert theirs["sample"]["id"] != mine["sample"]["id"]
    assert len(_stored_files(library)) == 1
    # Deleting one copy keeps the file for the other owner.
    deleted = await alice.client.delete(
        f"/api/v1/audio/{mine['sample']['id']}", headers=alice.headers
    )
    assert deleted.status_code == 204
    assert len(_stored_files(library)) == 1
    await bob.client.delete(f"/api/v1/audio/{theirs['sample']['id']}", headers=bob.headers)
    assert _stored_files(library) == []


async def test_many_files_with_a_folder(alice: Account) -> None:
    loop = wav_bytes(drum_loop(120, bars=2, sample_rate=44100), 44100)
    items = await alice.upload_ok(
        ("Kicks/BD 01.flac", corpus_file("bd", 1)[1]),
        ("Loop_120bpm.wav", loop),
        folder="My Library/Drums",
    )
    folders = sorted(item["sample"]["folder_path"] for item in items)
    assert folders == ["My Library/Drums", "My Library/Drums/Kicks"]
    names = sorted(item["sample"]["name"] for item in items)
    assert names == ["BD 01", "Loop_120bpm"]


@pytest.mark.parametrize(
    ("filename", "data", "status", "code"),
    [
        (
            "notes.wav",
            b"these are not the droids you are looking for\n" * 40,
            415,
            "unsupported_format",
        ),
        ("image.mp3", b"\x89PNG\r\n\x1a\n" + bytes(2000), 415, "unsupported_format"),
        ("empty.wav", b"", 415, "unsupported_format"),
    ],
)
async def test_not_audio_is_refused_and_nothing_is_kept(
    alice: Account, library: Settings, filename: str, data: bytes, status: int, code: str
) -> None:
    response = await alice.upload((filename, data))
    assert_error(response, status, code)
    assert await _row_counts(library) == (0, 0)
    assert _stored_files(library) == []


async def test_truncated_audio_is_422_and_nothing_is_kept(
    alice: Account, library: Settings
) -> None:
    data = wav_bytes(np.sin(np.linspace(0, 2000, 44100)).astype(np.float32))
    response = await alice.upload(("cut.wav", data[: len(data) // 2]))
    assert_error(response, 422, "decode_error")
    assert await _row_counts(library) == (0, 0)
    assert _stored_files(library) == []


async def test_zero_frames_is_422_empty_audio(alice: Account, library: Settings) -> None:
    response = await alice.upload(("silent.wav", wav_bytes(np.zeros(0, dtype=np.float32))))
    assert_error(response, 422, "empty_audio")
    assert _stored_files(library) == []


async def test_too_long_audio_is_422(database_url: str, tmp_path: Path) -> None:
    settings = library_settings(database_url, tmp_path, max_audio_duration_seconds=1.0)
    async with running_client(create_app(settings)) as client:
        account = await new_account(client, "long@example.com")
        response = await account.upload(
            ("long.wav", wav_bytes(np.zeros(2 * 8000, np.float32), 8000))
        )
    assert_error(response, 422, "too_long")
    assert _stored_files(settings) == []


async def test_a_bad_file_in_a_batch_does_not_stop_the_others(
    alice: Account, library: Settings
) -> None:
    response = await alice.upload(corpus_file("hh"), ("readme.txt", b"hello" * 100))
    assert response.status_code == 201
    body = response.json()
    assert len(body["items"]) == 1
    assert body["errors"] == [
        {
            "filename": "readme.txt",
            "error": {
                "code": "unsupported_format",
                "message": body["errors"][0]["error"]["message"],
            },
        }
    ]
    assert len(_stored_files(library)) == 1


async def test_the_same_bad_file_twice_in_a_batch_is_refused_twice(
    alice: Account, library: Settings
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(2000)
    response = await alice.upload(("a.png", png), ("b.png", png))
    assert_error(response, 415, "unsupported_format")
    details = response.json()["error"]["details"]
    assert [detail["filename"] for detail in details] == ["a.png", "b.png"]
    assert await _row_counts(library) == (0, 0)
    assert _stored_files(library) == []


async def test_control_characters_are_dropped_from_names(alice: Account) -> None:
    _, data = corpus_file("cb")
    body = b"".join([
        b'--xyz\r\nContent-Disposition: form-data; name="folder"\r\n\r\nPack\x00/Perc\r\n',
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="Cow\x00bell\x07.flac"',
        b"\r\nContent-Type: audio/flac\x00\r\n\r\n", data, b"\r\n--xyz--\r\n",
    ])  # fmt: skip
    response = await alice.client.post(
        "/api/v1/audio/upload",
        content=body,
        headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 201, response.text
    [item] = response.json()["items"]
    assert item["sample"]["original_filename"] == "Cowbell.flac"
    assert item["sample"]["folder_path"] == "Pack/Perc"


async def test_file_over_the_size_limit_is_413_and_nothing_is_kept(
    database_url: str, tmp_path: Path
) -> None:
    settings = library_settings(database_url, tmp_path, max_upload_bytes=50_000)
    async with running_client(create_app(settings)) as client:
        account = await new_account(client, "big@example.com")
        big = wav_bytes(np.zeros(44100, np.float32))  # ~88 kB
        response = await account.upload(("big.wav", big))
        assert_error(response, 413, "payload_too_large")
        small_then_big = await account.upload(corpus_file("rim"), ("big.wav", big))
        assert_error(small_then_big, 413, "payload_too_large")
    assert await _row_counts(settings) == (0, 0)
    assert _stored_files(settings) == []
    assert list((settings.data_dir / "audio" / "tmp").iterdir()) == []


async def test_request_over_the_request_limit_is_413(database_url: str, tmp_path: Path) -> None:
    settings = library_settings(database_url, tmp_path, max_request_bytes=10_000)
    async with running_client(create_app(settings)) as client:
        account = await new_account(client, "req@example.com")
        response = await account.upload(("x.wav", wav_bytes(np.zeros(20_000, np.float32))))
    assert_error(response, 413, "payload_too_large")
    assert _stored_files(settings) == []


async def test_upload_without_a_file_field_is_422(alice: Account) -> None:
    response = await alice.client.post(
        "/api/v1/audio/upload", data={"folder": "x"}, files={"other": ("a.wav", b"x")},
        headers=alice.headers,
    )  # fmt: skip
    assert_error(response, 422, "no_file")


async def test_upload_that_is_not_multipart_is_415(alice: Account) -> None:
    response = await alice.client.post(
        "/api/v1/audio/upload",
        content=b"RIFF....",
        headers={**alice.headers, "Content-Type": "audio/wav"},
    )
    assert_error(response, 415, "unsupported_media_type")


async def test_malformed_multipart_is_400(alice: Account, library: Settings) -> None:
    body = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF'
    response = await alice.client.post(
        "/api/v1/audio/upload",
        content=body + b"\x00garbage-without-closing-boundary",
        headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert_error(response, 400, "malformed_multipart")
    assert await _row_counts(library) == (0, 0)
    assert _stored_files(library) == []


async def test_upload_needs_a_token(library_client: httpx.AsyncClient) -> None:
    response = await library_client.post("/api/v1/audio/upload", files={"file": ("a.wav", b"x")})
    assert_error(response, 401)
