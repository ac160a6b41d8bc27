"""Categories and descriptive tags through the API: stored, filtered, searched."""

from __future__ import annotations

from typing import Any

import numpy as np

from samplemind.analysis.classify import TAXONOMY
from samplemind.analysis.tags import TAGS
from tests.auth.helpers import assert_error
from tests.samples.conftest import Account, corpus_file, wav_bytes

SR = 44100


async def _names(account: Account, path: str = "/api/v1/search", **params: Any) -> set[str]:
    response = await account.get(path, params=params)
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


async def test_uploaded_corpus_hits_get_a_category_confidence_and_top3(alice: Account) -> None:
    # Names that say nothing: the category must come from the audio.
    kick = ("Untitled 7.flac", corpus_file("bd", 2)[1])
    hat = ("Untitled 8.flac", corpus_file("hh", 2)[1])
    samples = {s["name"]: s for s in await alice.ingest(kick, hat)}
    stored = samples["Untitled 7"]
    assert stored["category"] == "kick"
    analysis = stored["analysis"]
    assert analysis["category"] == "kick" and analysis["category_source"] == "audio"
    top3 = analysis["category_top3"]
    assert top3[0]["category"] == "kick" and len(top3) == 3
    confidences = [entry["confidence"] for entry in top3]
    assert confidences == sorted(confidences, reverse=True)
    assert analysis["category_confidence"] == confidences[0]
    assert all(entry["category"] in TAXONOMY for entry in top3)
    assert samples["Untitled 8"]["category"] != "kick"
    assert set(stored["auto_tags"]) <= set(TAGS) and "punchy" in stored["auto_tags"]


async def test_text_search_finds_kicks_by_category_not_by_name(alice: Account) -> None:
    await alice.ingest(
        ("Untitled 7.flac", corpus_file("bd", 2)[1]),
        ("Untitled 9.flac", corpus_file("sd", 2)[1]),
    )
    assert await _names(alice, query="bd") == {"Untitled 7"}
    assert await _names(alice, query="kick") == {"Untitled 7"}
    assert await _names(alice, query="sd") == {"Untitled 9"}


async def test_filter_by_category_and_by_auto_tag(alice: Account) -> None:
    long_sine = _sine(3.0)
    rng = np.random.default_rng(3)
    stereo_noise = (0.3 * rng.standard_normal((SR // 2, 2))).astype(np.float32)
    await alice.ingest(
        ("Untitled 7.flac", corpus_file("bd", 2)[1]),
        ("drone.wav", wav_bytes(long_sine)),
        ("air.wav", wav_bytes(stereo_noise)),
    )
    for path in ("/api/v1/search", "/api/v1/audio"):
        assert await _names(alice, path, category="kick") == {"Untitled 7"}
        assert await _names(alice, path, tags="long") == {"drone"}
        assert await _names(alice, path, tags="stereo") == {"air"}
        assert await _names(alice, path, tags="long,tonal") == {"drone"}
        assert await _names(alice, path, tags="stereo,tonal") == set()
    # Auto tags are words of the text search too.
    assert await _names(alice, query="stereo") == {"air"}


async def test_user_tags_and_auto_tags_are_one_filter(alice: Account) -> None:
    [sample] = await alice.ingest(("drone.wav", wav_bytes(_sine(3.0))))
    response = await alice.client.patch(
        f"/api/v1/audio/{sample['id']}", headers=alice.headers, json={"tags": ["warm"]}
    )
    assert response.status_code == 200, response.text
    assert await _names(alice, "/api/v1/audio", tags="warm,long") == {"drone"}
    assert await _names(alice, "/api/v1/audio", tags="warm,short") == set()


async def test_a_user_category_wins_and_is_filterable(alice: Account) -> None:
    [sample] = await alice.ingest(("Untitled 7.flac", corpus_file("bd", 2)[1]))
    response = await alice.client.patch(
        f"/api/v1/audio/{sample['id']}", headers=alice.headers, json={"category": "tom"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["category"] == "tom"
    assert response.json()["analysis"]["category"] == "kick"
    assert await _names(alice, "/api/v1/audio", category="tom") == {"Untitled 7"}
    assert await _names(alice, "/api/v1/audio", category="kick") == set()


async def test_categories_are_private(alice: Account, bob: Account) -> None:
    await alice.ingest(("Untitled 7.flac", corpus_file("bd", 2)[1]))
    assert await _names(bob, "/api/v1/audio", category="kick") == set()
    assert await _names(bob, query="bd") == set()


def _sine(seconds: float, hz: float = 110.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


async def test_category_filter_takes_producer_words(alice: Account) -> None:
    await alice.ingest(
        ("Untitled 7.flac", corpus_file("bd", 2)[1]),
        ("Untitled 8.flac", corpus_file("hh", 2)[1]),
    )
    hat = (await alice.get("/api/v1/audio", params={"category": "hat"})).json()["items"]
    assert await _names(alice, "/api/v1/audio", category="bd") == {"Untitled 7"}
    assert await _names(alice, "/api/v1/audio", category="bassdrum,hh") >= {"Untitled 7"}
    assert {item["category"] for item in hat} <= {"closed_hat", "open_hat"}
    bad = await alice.get("/api/v1/audio", params={"category": "banjo"})
    assert_error(bad, 422, "validation_error")
    assert_error(await alice.get("/api/v1/search", params={"category": "banjo"}), 422)
