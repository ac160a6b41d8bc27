"""Text with producers' synonyms, filters, "sounds like", "fits with", combined."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import numpy as np
import soundfile as sf

from samplemind.analysis.synthetic.rhythm import drum_loop
from samplemind.core.config import Settings
from tests.auth.helpers import assert_error
from tests.samples.conftest import Account, corpus_file, wav_bytes

SR = 44100


async def _search(account: Account, **params: Any) -> dict[str, Any]:
    response = await account.get("/api/v1/search", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _names(account: Account, **params: Any) -> list[str]:
    return [hit["name"] for hit in (await _search(account, **params))["items"]]


async def test_text_search_understands_producer_words(alice: Account) -> None:
    await alice.ingest(
        ("Kick 01.flac", corpus_file("bd")[1]),
        ("SD_Tight.flac", corpus_file("sd")[1]),
        ("Closed Hat 3.flac", corpus_file("hh")[1]),
        folder="Vintage Machines",
    )
    assert await _names(alice, query="bd") == ["Kick 01"]
    assert await _names(alice, query="bassdrum") == ["Kick 01"]
    assert await _names(alice, query="snare") == ["SD_Tight"]
    assert await _names(alice, query="sna") == ["SD_Tight"]  # prefix
    assert await _names(alice, query="hihat") == ["Closed Hat 3"]
    assert await _names(alice, q="hh") == ["Closed Hat 3"]
    assert len(await _names(alice, query="vintage")) == 3  # folder path
    assert await _names(alice, query="vintage kick") == ["Kick 01"]  # every word must match
    assert await _names(alice, query="cowbell") == []
    hits = (await _search(alice, query="kick"))["items"]
    assert 0 < hits[0]["score"] <= 1 and "text" in hits[0]["scores"]


async def test_tags_are_searchable(alice: Account) -> None:
    [sample] = await alice.ingest(corpus_file("perc"))
    await alice.client.patch(
        f"/api/v1/audio/{sample['id']}", headers=alice.headers, json={"tags": ["dusty", "vinyl"]}
    )
    assert await _names(alice, query="dust") == [sample["name"]]
    assert await _names(alice, tags="vinyl") == [sample["name"]]


async def test_similar_ranks_the_same_kind_of_sound_first(alice: Account) -> None:
    kicks = [corpus_file("bd", i) for i in (3, 4, 5)]
    hats = [corpus_file("hh", i) for i in (3, 4, 5)]
    samples = await alice.ingest(*kicks, *hats)
    query = samples[0]
    result = await _search(alice, similar_to=query["id"])
    names = [hit["name"] for hit in result["items"]]
    assert query["name"] not in names
    assert result["total"] == 5
    kick_names = {sample["name"] for sample in samples[1:3]}
    assert set(names[:2]) == kick_names
    similarities = [hit["scores"]["similarity"] for hit in result["items"]]
    assert similarities == sorted(similarities, reverse=True)
    # Combined with a filter and a text query.
    assert set(await _names(alice, similar_to=query["id"], query="hh")) <= {
        s["name"] for s in samples[3:]
    }
    assert await _names(alice, similar_to=query["id"], max_duration=0.0001) == []


async def test_search_by_an_uploaded_clip(alice: Account) -> None:
    name, data = corpus_file("cb")
    await alice.ingest((name, data), corpus_file("cr"))
    response = await alice.client.post(
        "/api/v1/search/similar", headers=alice.headers, files={"file": ("query.flac", data)}
    )
    assert response.status_code == 200, response.text
    top = response.json()["items"][0]
    assert top["name"] == name.rsplit(".", 1)[0]
    assert top["scores"]["similarity"] > 0.999
    assert (await alice.get("/api/v1/audio")).json()["total"] == 2  # the clip was not added
    bad = await alice.client.post(
        "/api/v1/search/similar",
        headers=alice.headers,
        files={"file": ("x.wav", b"not audio" * 50)},
    )
    assert_error(bad, 415, "unsupported_format")


async def test_identical_clips_searched_at_once_do_not_collide(
    alice: Account, bob: Account, library: Settings
) -> None:
    _, clip = corpus_file("cb")

    async def search_by(account: Account) -> int:
        response = await account.client.post(
            "/api/v1/search/similar", headers=account.headers, files={"file": ("q.flac", clip)}
        )
        return response.status_code

    for accounts in [(alice, alice), (alice, bob)] * 3:
        statuses = await asyncio.gather(*(search_by(account) for account in accounts))
        assert statuses == [200, 200]
    assert list((library.data_dir / "query-clips").iterdir()) == []


async def _loop(alice: Account, name: str, *, key: str, bpm: float, seed: int) -> dict[str, Any]:
    audio = drum_loop(100 + seed, bars=1, seed=seed, sample_rate=SR)
    [sample] = await alice.ingest((f"{name}.wav", wav_bytes(audio, SR)))
    response = await alice.client.patch(
        f"/api/v1/audio/{sample['id']}", headers=alice.headers, json={"key": key, "bpm": bpm}
    )
    assert response.status_code == 200
    return dict(response.json())


async def test_compatible_loops_follow_the_camelot_wheel_and_half_time(alice: Account) -> None:
    reference = await _loop(alice, "ref", key="A minor", bpm=120, seed=1)
    await _loop(alice, "same", key="A minor", bpm=121, seed=2)
    await _loop(alice, "relative half time", key="C major", bpm=60, seed=3)
    await _loop(alice, "neighbour", key="E minor", bpm=118, seed=4)
    await _loop(alice, "double time neighbour", key="D minor", bpm=240, seed=5)
    await _loop(alice, "clash", key="F# major", bpm=120, seed=6)
    await _loop(alice, "too slow", key="A minor", bpm=100, seed=7)
    result = await _search(alice, compatible_with=reference["id"])
    names = [hit["name"] for hit in result["items"]]
    assert set(names) == {"same", "relative half time", "neighbour", "double time neighbour"}
    assert names[0] == "same"
    narrow = await _names(alice, compatible_with=reference["id"], tempo_tolerance=0.005)
    assert set(narrow) == {"relative half time", "double time neighbour"}


async def test_search_errors(alice: Account) -> None:
    [sample] = await alice.ingest(corpus_file("fx"))
    assert_error(await alice.get("/api/v1/search", params={"query": "!!!"}), 422, "empty_query")
    missing = "00000000-0000-0000-0000-000000000000"
    assert_error(await alice.get("/api/v1/search", params={"similar_to": missing}), 404)
    assert_error(await alice.get("/api/v1/search", params={"compatible_with": "x"}), 422)
    one_shot = await alice.get("/api/v1/search", params={"compatible_with": sample["id"]})
    assert_error(one_shot, 422, "nothing_to_match")


def _encode(samples: np.ndarray, fmt: str, subtype: str | None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, SR, format=fmt, subtype=subtype)
    return buffer.getvalue()


async def test_duplicates_find_format_copies(alice: Account) -> None:
    rng = np.random.default_rng(3)
    decay = np.exp(-np.linspace(0, 12, SR // 2)) * rng.standard_normal(SR // 2) * 0.5
    hit = np.round(decay * 32767).astype(np.int16)  # the same PCM in every container
    other = (0.3 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR)).astype(np.float32)
    await alice.ingest(
        ("hit.wav", _encode(hit, "WAV", "PCM_16")),
        ("hit copy.flac", _encode(hit, "FLAC", "PCM_16")),
        ("hit.mp3", _encode(hit, "MP3", None)),
        ("tone.wav", _encode(other, "WAV", "PCM_16")),
    )
    report = (await alice.get("/api/v1/audio/duplicates")).json()
    [exact] = report["exact"]
    assert sorted(member["original_filename"] for member in exact["samples"]) == [
        "hit copy.flac",
        "hit.wav",
    ]
    near_names = [
        sorted(m["original_filename"] for m in group["samples"]) for group in report["near"]
    ]
    assert any("hit.mp3" in names for names in near_names), report
    assert all("tone.wav" not in names for names in near_names)
