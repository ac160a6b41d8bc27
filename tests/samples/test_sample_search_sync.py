"""``sample_search`` follows ``samples`` through upload, analysis, edits, re-analysis and
deletion (database triggers), and worded searches read it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from samplemind.analysis.synthetic.rhythm import drum_loop
from samplemind.samples.models import SampleSearch
from tests.samples.conftest import Account, corpus_file, wav_bytes

SR = 44100
COPIED = [column.name for column in SampleSearch.__table__.columns if column.name != "sample_id"]


async def _out_of_sync(database_url: str) -> list[Any]:
    """Samples whose copy is missing or differs, and copies without a sample."""
    samples = ", ".join(f"s.{column}" for column in COPIED)
    copies = ", ".join(f"c.{column}" for column in COPIED)
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            differ = f"ROW({samples}) IS DISTINCT FROM ROW({copies})"
            rows = await connection.execute(
                text(
                    "SELECT s.id, c.sample_id FROM samples s "  # noqa: S608  (model columns)
                    f"FULL JOIN sample_search c ON c.sample_id = s.id WHERE {differ}"
                )
            )
            return list(rows)
    finally:
        await engine.dispose()


async def _copies(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(text("SELECT count(*) FROM sample_search")) or 0)
    finally:
        await engine.dispose()


async def _search_names(alice: Account, **params: Any) -> list[str]:
    response = await alice.get("/api/v1/search", params=params)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_the_search_table_follows_every_change(alice: Account, database_url: str) -> None:
    loop_wav = wav_bytes(drum_loop(90, bars=2, pattern="hiphop", sample_rate=SR), SR)
    uploaded = await alice.upload_ok(("Loop_90bpm.wav", loop_wav), corpus_file("bd"))
    assert await _copies(database_url) == 2  # pending samples are copied on insert
    assert await _out_of_sync(database_url) == []
    for item in uploaded:
        assert (await alice.wait_for_job(item["job"]["id"]))["status"] == "done"
    assert await _out_of_sync(database_url) == []  # the analysis, embedding and status
    loop_id, kick_id = (item["sample"]["id"] for item in uploaded)

    url = f"/api/v1/audio/{loop_id}"
    edit = {"name": "Boom bap groove", "tags": ["dusty"], "bpm": 180, "key": "Am"}
    assert (await alice.client.patch(url, headers=alice.headers, json=edit)).status_code == 200
    assert await _out_of_sync(database_url) == []
    # Words with a reference read sample_search: the new name, tag and tempo are found there.
    found = await _search_names(alice, q="boom dusty", similar_to=kick_id, min_tempo=170)
    assert found == ["Boom bap groove"]
    assert await _search_names(alice, q="boom", similar_to=kick_id, max_tempo=100) == []

    reanalysis = {"audio_id": loop_id, "analysis_type": "detailed"}
    job = await alice.client.post("/api/v1/audio/analyze", headers=alice.headers, json=reanalysis)
    assert (await alice.wait_for_job(job.json()["id"]))["status"] == "done"
    assert await _out_of_sync(database_url) == []
    cleared = {"bpm": None, "category": "snare"}
    assert (await alice.client.patch(url, headers=alice.headers, json=cleared)).status_code == 200
    assert await _out_of_sync(database_url) == []
    assert await _search_names(alice, q="boom", similar_to=kick_id, max_tempo=100) == [
        "Boom bap groove"
    ]

    assert (await alice.client.delete(url, headers=alice.headers)).status_code == 204
    assert await _copies(database_url) == 1
    assert await _out_of_sync(database_url) == []
    assert await _search_names(alice, q="boom", similar_to=kick_id) == []
