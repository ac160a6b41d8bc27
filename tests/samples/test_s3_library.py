"""The library with its audio in a real S3-compatible bucket (SeaweedFS)."""

from __future__ import annotations

from pathlib import Path

from samplemind.app import create_app
from tests.auth.helpers import assert_error
from tests.conftest import running_client
from tests.samples.conftest import corpus_file, library_settings, new_account
from tests.seaweed import SeaweedS3


async def test_uploads_analysis_streaming_and_deletion_use_the_bucket(
    database_url: str, tmp_path: Path, s3_server: SeaweedS3
) -> None:
    prefix = s3_server.new_prefix()
    settings = library_settings(database_url, tmp_path, **s3_server.settings_overrides(prefix))
    name, data = corpus_file("bd")
    async with running_client(create_app(settings)) as client:
        alice = await new_account(client, "alice@example.com")
        [sample] = await alice.ingest((name, data))  # analysed by pool processes from S3
        assert sample["status"] == "ready" and sample["analysis"]["error"] is None
        [key] = s3_server.keys(prefix)
        assert key.startswith(f"{prefix}/") and key.endswith(sample["content_sha256"])

        url = f"/api/v1/audio/{sample['id']}"
        ranged = await alice.client.get(
            f"{url}/file", headers={**alice.headers, "Range": "bytes=10-19"}
        )
        assert ranged.status_code == 206 and ranged.content == data[10:20]
        whole = await alice.get(f"{url}/file")
        assert whole.content == data
        assert (await alice.get(f"{url}/waveform", params={"points": 64})).status_code == 200

        refused = await alice.upload(("notes.wav", b"not audio at all" * 100))
        assert_error(refused, 415, "unsupported_format")
        assert s3_server.keys(prefix) == [key]

        health = (await client.get("/health")).json()
        assert health["checks"]["storage"]["status"] == "ok"
        assert (await client.get("/api/v1/status")).json()["storage"] == "s3"

        assert (await alice.client.delete(url, headers=alice.headers)).status_code == 204
        assert s3_server.keys(prefix) == []
    assert not any((tmp_path / "data" / "audio").rglob("*"))


async def test_health_reports_an_unreachable_bucket(
    database_url: str, tmp_path: Path, s3_server: SeaweedS3
) -> None:
    overrides = s3_server.settings_overrides("audio", bucket="bucket-that-does-not-exist")
    settings = library_settings(database_url, tmp_path, **overrides)
    async with running_client(create_app(settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()["error"]
    assert body["details"]["checks"]["storage"]["status"] == "error"
    assert body["details"]["checks"]["database"]["status"] == "ok"
