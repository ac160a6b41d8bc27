"""Browsing, correcting, streaming and deleting; another user's samples are invisible."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from samplemind.analysis.synthetic.rhythm import drum_loop
from tests.auth.helpers import assert_error
from tests.samples.conftest import Account, corpus_file, wav_bytes

SR = 44100


async def _library(alice: Account) -> dict[str, dict[str, Any]]:
    """Two loops at known tempi and three one-shots, analysed."""
    samples = await alice.ingest(
        ("Loop_90bpm.wav", wav_bytes(drum_loop(90, bars=2, pattern="hiphop", sample_rate=SR), SR)),
        (
            "Loop_128bpm.wav",
            wav_bytes(drum_loop(128, bars=2, pattern="four_on_floor", sample_rate=SR), SR),
        ),
        corpus_file("bd"),
        corpus_file("sd"),
        corpus_file("hh"),
        folder="Pack",
    )
    return {sample["name"]: sample for sample in samples}


async def _names(alice: Account, **params: Any) -> list[str]:
    response = await alice.get("/api/v1/audio", params=params)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_list_filters_and_sorts(alice: Account) -> None:
    library = await _library(alice)
    loop_90, loop_128 = library["Loop_90bpm"], library["Loop_128bpm"]
    assert loop_90["kind"] == "loop" and loop_90["bpm"] == pytest.approx(90, rel=0.01)
    assert loop_128["bpm"] == pytest.approx(128, rel=0.01)

    page = (await alice.get("/api/v1/audio", params={"page_size": 2})).json()
    assert (page["total"], page["page"], page["page_size"], page["pages"]) == (5, 1, 2, 3)
    assert len(page["items"]) == 2 and page["items"][0]["analysis"] is None

    assert sorted(await _names(alice, kind="loop")) == ["Loop_128bpm", "Loop_90bpm"]
    assert await _names(alice, min_tempo=100, max_tempo=140) == ["Loop_128bpm"]
    assert await _names(alice, kind="loop", sort="bpm") == ["Loop_90bpm", "Loop_128bpm"]
    assert await _names(alice, kind="loop", sort="-bpm") == ["Loop_128bpm", "Loop_90bpm"]
    assert len(await _names(alice, kind="one_shot")) == 3
    assert len(await _names(alice, max_duration=1.5)) == 3
    assert len(await _names(alice, folder="Pack")) == 5
    assert await _names(alice, folder="Elsewhere") == []
    loudest = max(library.values(), key=lambda s: s["loudness_lufs"])
    assert await _names(alice, min_loudness=loudest["loudness_lufs"] - 0.01) == [loudest["name"]]


async def test_invalid_filters_are_422(alice: Account) -> None:
    for params in ({"key": "H major"}, {"page_size": 1000}, {"sort": "colour"}, {"min_tempo": -1}):
        assert_error(await alice.get("/api/v1/audio", params=params), 422, "validation_error")


async def test_corrections_win_over_the_analysis_and_survive_reanalysis(alice: Account) -> None:
    library = await _library(alice)
    loop = library["Loop_90bpm"]
    url = f"/api/v1/audio/{loop['id']}"
    response = await alice.client.patch(
        url, headers=alice.headers,
        json={"bpm": 180, "key": "Am", "tags": ["Dusty", "vinyl", "dusty"], "name": "Boom bap"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["bpm"], body["key"], body["camelot"], body["name"]) == (
        180,
        "A minor",
        "8A",
        "Boom bap",
    )
    assert body["tags"] == ["dusty", "vinyl"]
    assert body["corrections"] == {"bpm": 180, "key": "A minor", "category": None}
    assert await _names(alice, key="Am") == ["Boom bap"]
    assert await _names(alice, tags="dusty,vinyl") == ["Boom bap"]

    reanalysis = {"audio_id": loop["id"], "analysis_type": "detailed"}
    job = (
        await alice.client.post("/api/v1/audio/analyze", headers=alice.headers, json=reanalysis)
    ).json()
    assert (await alice.wait_for_job(job["id"]))["status"] == "done"
    again = (await alice.get(url)).json()
    assert again["bpm"] == 180 and again["key"] == "A minor"
    assert again["analysis"]["bpm"] == pytest.approx(90, rel=0.01)

    cleared = await alice.client.patch(url, headers=alice.headers, json={"bpm": None, "key": None})
    assert cleared.json()["bpm"] == pytest.approx(90, rel=0.01)
    bad = await alice.client.patch(url, headers=alice.headers, json={"key": "Q# lydian"})
    assert_error(bad, 422, "validation_error")


async def test_file_is_streamed_with_ranges(alice: Account) -> None:
    name, data = corpus_file("oh")
    [sample] = await alice.ingest((name, data))
    url = f"/api/v1/audio/{sample['id']}/file"
    whole = await alice.get(url)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/flac"
    part = await alice.get(url, headers={**alice.headers, "Range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.content == data[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(data)}"
    tail = await alice.get(url, headers={**alice.headers, "Range": "bytes=-16"})
    assert tail.content == data[-16:]
    open_ended = await alice.get(url, headers={**alice.headers, "Range": f"bytes={len(data) - 5}-"})
    assert open_ended.content == data[-5:]
    beyond = await alice.get(url, headers={**alice.headers, "Range": f"bytes={len(data)}-"})
    assert_error(beyond, 416, "range_not_satisfiable")
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"


async def test_waveform_has_the_requested_points(alice: Account) -> None:
    [sample] = await alice.ingest(corpus_file("cr"))
    response = await alice.get(f"/api/v1/audio/{sample['id']}/waveform", params={"points": 200})
    assert response.status_code == 200
    body = response.json()
    assert body["points"] == 200 and len(body["peaks"]) == 200
    assert all(low <= high for low, high in body["peaks"])
    assert max(high for _, high in body["peaks"]) > 0.05  # a crash is loud at its start
    assert_error(
        await alice.get(f"/api/v1/audio/{sample['id']}/waveform", params={"points": 3}), 422
    )


async def test_waveform_is_cacheable_by_etag(alice: Account) -> None:
    [sample] = await alice.ingest(corpus_file("oh"))
    url = f"/api/v1/audio/{sample['id']}/waveform"
    first = await alice.get(url, params={"points": 100})
    etag = first.headers["etag"]
    assert first.status_code == 200 and "max-age" in first.headers["cache-control"]
    again = await alice.client.get(
        url, params={"points": 100}, headers={**alice.headers, "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = await alice.client.get(
        url, params={"points": 50}, headers={**alice.headers, "If-None-Match": etag}
    )
    assert other.status_code == 200 and other.headers["etag"] != etag
    assert len(other.json()["peaks"]) == 50
    repeated = await alice.get(url, params={"points": 100})
    assert repeated.json() == first.json()


async def test_input_postgresql_cannot_take_is_422_not_500(alice: Account) -> None:
    [sample] = await alice.ingest(corpus_file("sh"))
    assert (await alice.get("/api/v1/search", params={"query": "sh\x00"})).status_code == 200
    for path, params in (
        ("/api/v1/search", {"tags": "a\x00b"}),
        ("/api/v1/audio", {"folder": "x\x00"}),
    ):
        assert_error(await alice.get(path, params=params), 422, "invalid_text")
    huge_page = {"page": 10**17, "page_size": 123}
    for path in ("/api/v1/audio", "/api/v1/search"):
        assert_error(await alice.get(path, params=huge_page), 422, "validation_error")
    url = f"/api/v1/audio/{sample['id']}"
    patched = await alice.client.patch(url, headers=alice.headers, json={"name": "bad\u0000"})
    assert_error(patched, 422, "invalid_text")
    assert (await alice.get(url)).json()["name"] == sample["name"]


async def test_delete_removes_the_sample(alice: Account) -> None:
    [sample] = await alice.ingest(corpus_file("rim"))
    url = f"/api/v1/audio/{sample['id']}"
    assert (await alice.client.delete(url, headers=alice.headers)).status_code == 204
    assert_error(await alice.get(url), 404, "not_found")
    assert (await alice.get("/api/v1/audio")).json()["total"] == 0


async def test_other_users_samples_are_invisible(alice: Account, bob: Account) -> None:
    [sample] = await alice.ingest(corpus_file("tb"))
    [job_item] = await alice.upload_ok(corpus_file("sh"))
    sample_url = f"/api/v1/audio/{sample['id']}"
    for path in (
        sample_url,
        f"{sample_url}/file",
        f"{sample_url}/waveform",
        f"/api/v1/jobs/{job_item['job']['id']}",
    ):
        assert_error(await bob.get(path), 404, "not_found")
    assert_error(
        await bob.client.patch(sample_url, headers=bob.headers, json={"name": "mine"}), 404
    )
    assert_error(await bob.client.delete(sample_url, headers=bob.headers), 404)
    analyze = await bob.client.post(
        "/api/v1/audio/analyze", headers=bob.headers, json={"audio_id": sample["id"]}
    )
    assert_error(analyze, 404)
    assert (await bob.get("/api/v1/audio")).json()["total"] == 0
    for params in (
        {"query": "tb"},
        {"similar_to": sample["id"]},
        {"compatible_with": sample["id"]},
    ):
        response = await bob.get("/api/v1/search", params=params)
        assert response.status_code in (200, 404)
        if response.status_code == 200:
            assert response.json()["items"] == []
    assert (await bob.get("/api/v1/audio/duplicates")).json() == {"exact": [], "near": []}
    assert (await alice.get(sample_url)).status_code == 200


async def test_unknown_sample_and_malformed_id(alice: Account) -> None:
    assert_error(await alice.get("/api/v1/audio/00000000-0000-0000-0000-000000000000"), 404)
    assert_error(await alice.get("/api/v1/audio/not-a-uuid"), 422, "validation_error")


def _tone(frequency: float) -> bytes:
    t = np.arange(4410) / SR
    return wav_bytes((0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), SR)


@pytest.mark.parametrize("path", ["/api/v1/audio", "/api/v1/search"])
async def test_folder_filter_takes_like_wildcards_literally(alice: Account, path: str) -> None:
    folders = ["a_b/in", "axb/out", "a%b/in", "a-long-b/out", "a\\b/in", "ab/out"]
    for index, folder in enumerate(folders):
        await alice.upload_ok((f"s{index}.wav", _tone(200 + 50 * index)), folder=folder)
    for parent in ("a_b", "a%b", "a\\b"):
        response = await alice.get(path, params={"folder": parent})
        assert response.status_code == 200, response.text
        assert [item["folder_path"] for item in response.json()["items"]] == [f"{parent}/in"]
