"""Benchmark: library search latency, end to end over HTTP, on a 100,000-sample library.

What is measured
    Sequential HTTP request latency (client-side wall time of ``httpx`` GETs, one
    request at a time, after a warm-up) against a real ``samplemind serve``
    subprocess, for these query families (``--requests`` random parameter sets
    each, fixed seed):

    * ``filter``: ``/search`` with a tempo range, ``kind=loop`` and one key;
    * ``text_word`` / ``text_two_words`` / ``text_prefix``: ``/search?q=`` with one
      word ("kick"), two words ("vintage snare") or a 2-3 letter prefix ("sna");
    * ``similar``: ``/search?similar_to=<random sample id>``;
    * ``similar+filter``: ``similar_to`` a loop plus ``kind=loop`` and a tempo range;
    * ``text+filter+similar``: a word, ``kind=one_shot``, a max duration and
      ``similar_to``;
    * ``compatible+filter``: ``compatible_with=<random keyed loop>`` and a loudness floor;
    * ``list_p1`` / ``list_p50``: ``GET /audio`` (default sort) pages 1 and 50;
    * ``baseline_me``: ``GET /auth/me``, the cost of HTTP + authentication alone.

    Printed per family: p50/p95/p99 in ms, the mean result ``total``, and the
    in-process service time (the same ``search()`` / ``list_samples`` code called
    directly on the database, no HTTP) for a subset of the same parameters.
    ``--explain`` prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the exact SQL the
    service runs for one representative request per family.

How the library is built
    One user, in a fresh embedded PostgreSQL (temp dir, deleted afterwards).
    ``--one-shots`` real corpus files (stratified over the label folders, fixed
    seed) and ``--loops`` synthetic drum loops (``synthetic.rhythm.drum_loop`` at
    known tempi, rendered to 44.1 kHz WAV) are analysed once with
    ``analyze_file(path, embedding=True)``. They are then varied into ``--rows``
    rows: the embedding plus gaussian noise (``--noise`` per dimension) and
    re-normalised to unit L2; names and folders from a producer's vocabulary
    (packs, machines, adjectives, "Kick"/"BD"/"Snare"/"Hat"/"Loop" ...); user
    tags; loudness and duration jitter; for loops a tempo jitter and one of the
    24 keys (some one-shots get a key too). Each row is a ``Sample`` filled by the
    production ``store_analysis(sample, record)``; rows are inserted with the ORM
    in batches (``session.add_all``, one commit per batch), with every index of
    the migration in place (HNSW included; the triggers fill ``sample_search``), then
    ``ANALYZE samples`` and ``ANALYZE sample_search``.

Usage::

    python bench/search.py [--rows 100000] [--requests 200] [--explain] [--seed 0]
        [--keep-db DIR]

``--keep-db DIR`` keeps the built library (database and row ids) in ``DIR``; a later run
with the same folder and build arguments skips the build and measures that library again
(migrated to head first). Quoted figures come from fresh builds.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import pick_corpus_files
from _server import (
    DEFAULT_CORPUS,
    BenchUser,
    bench_database,
    bench_env,
    login_token,
    machine_summary,
    percentiles,
    register_user,
    start_serve,
)
from samplemind.analysis.record import AnalysisRecord

RENDER_RATE = 44100
GOAL_P95_MS = 50.0
TONICS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
KEYS = tuple(f"{tonic} {quality}" for quality in ("major", "minor") for tonic in TONICS)
SHORT_KEYS = tuple(f"{tonic}{'m' if quality == 'minor' else ''}" for tonic, quality in
                   (key.split() for key in KEYS))  # fmt: skip

# ------------------------------------------------------------ the vocabulary
LABEL_WORDS: dict[str, tuple[str, ...]] = {
    "bd": ("Kick", "BD", "Kick", "Kck", "BassDrum", "Kick"),
    "sd": ("Snare", "SD", "Snare", "Snr"),
    "hh": ("Hat", "HH", "ClosedHat", "CH", "Hihat"),
    "oh": ("OpenHat", "OH", "Open Hat"),
    "cp": ("Clap", "CP", "Handclap"),
    "cr": ("Crash", "Cymbal"),
    "rd": ("Ride", "Ride Bell"),
    "lt": ("Tom Lo", "LowTom", "LT"),
    "mt": ("Tom Mid", "MidTom", "MT"),
    "ht": ("Tom Hi", "HiTom", "HT"),
    "rim": ("Rim", "Rimshot", "RS"),
    "cb": ("Cowbell", "CB"),
    "sh": ("Shaker", "SH"),
    "tb": ("Tambourine", "Tamb"),
    "perc": ("Perc", "Conga", "Bongo", "Woodblock", "Perc"),
    "fx": ("FX", "Riser", "Impact", "Sweep"),
    "misc": ("Hit", "Oneshot", "Stab"),
}
FOLDER_FOR_LABEL = {
    "bd": "Kicks", "sd": "Snares", "hh": "Hats", "oh": "Hats", "cp": "Claps",
    "cr": "Cymbals", "rd": "Cymbals", "lt": "Toms", "mt": "Toms", "ht": "Toms",
    "rim": "Percussion", "cb": "Percussion", "sh": "Percussion", "tb": "Percussion",
    "perc": "Percussion", "fx": "FX", "misc": "One Shots",
}  # fmt: skip
MACHINES = ("808", "909", "707", "606", "Linn", "DMX", "SP1200", "MPC60", "CR78", "Jomox",
            "Simmons", "Drumtraks", "Vermona", "RX5", "Acoustic")  # fmt: skip
ADJECTIVES = ("Vintage", "Dusty", "Punchy", "Tight", "Dirty", "Warm", "Crispy", "Deep", "Hard",
              "Soft", "Lofi", "Tape", "Saturated", "Clean", "Bright", "Dark", "Analog")  # fmt: skip
VENDORS = ("Splice", "Loopmasters", "Goldbaby", "Samples From Mars", "Wave Alchemy",
           "Producer Loops", "My Packs", "Bandcamp")  # fmt: skip
PACKS = ("Vintage Drums Vol 2", "Dusty Breaks", "Tape Echoes", "Boom Bap Essentials",
         "Techno Tools", "Lofi Kits", "Analog Heat", "Modular Perc", "House Nation",
         "Trap Bangers", "Jungle Archive", "Garage Flex", "Drum Machine Museum",
         "Studio Kit 3")  # fmt: skip
LOOP_STYLES = ("Groove", "Break", "Beat", "Loop", "Top Loop", "Perc Loop", "Full Loop")
USER_TAGS = ("favourite", "dark", "punchy", "wip", "vintage", "bright", "lofi", "used",
             "layer", "808", "crunchy", "clean")  # fmt: skip

TEXT_WORDS = ("kick", "snare", "hat", "clap", "tom", "perc", "ride", "crash", "shaker", "rim",
              "cowbell", "loop", "808", "909", "vintage", "dusty", "punchy", "tape", "bd",
              "hh")  # fmt: skip
TEXT_PAIRS = ("vintage snare", "dusty kick", "909 hat", "punchy kick", "tape loop", "linn snare",
              "open hat", "lofi perc", "808 kick", "deep tom", "analog clap", "break 90",
              "dark ride", "boom bap")  # fmt: skip
TEXT_PREFIXES = ("sna", "kic", "ha", "vin", "per", "clo", "dus", "lo", "tom", "cr", "sh", "pu")
SHOWN_SETTINGS = ("server_version", "shared_buffers", "work_mem", "effective_cache_size",
                  "random_page_cost", "jit", "max_parallel_workers_per_gather")  # fmt: skip
ONE_SHOT_WORDS = ("kick", "snare", "hat", "clap", "tom", "perc", "rim", "crash", "bd", "sd")


# ------------------------------------------------------------------- analysis
@dataclasses.dataclass
class Base:
    """One analysed file that rows are varied from."""

    record: AnalysisRecord
    label: str  # corpus label folder, or "loop"
    loop_bars: int = 0
    size_bytes: int = 0


def render_loops(out_dir: Path, n: int, *, seed: int) -> list[tuple[str, float, int]]:
    """``n`` synthetic drum loops at 70-170 BPM; returns (path, bpm, bars)."""
    from samplemind.analysis.synthetic import rhythm

    rng = random.Random(seed)
    loops = []
    for index in range(n):
        bpm = float(rng.randint(70, 170))
        bars = rng.choice([b for b in (1, 2, 4) if 2.0 <= b * 240.0 / bpm <= 8.0])
        samples = rhythm.drum_loop(
            bpm,
            pattern=rng.choice(sorted(rhythm.PATTERNS)),
            bars=bars,
            hats=rng.choice(["8ths", "16ths", "offbeat"]),
            seed=index,
            sample_rate=RENDER_RATE,
        )
        path = out_dir / f"loop_{index:03d}.wav"
        sf.write(path, samples, RENDER_RATE, subtype="PCM_24")
        loops.append((str(path), bpm, bars))
    return loops


def _analyse(path: str) -> AnalysisRecord:
    from samplemind.analysis.pipeline import analyze_file

    return analyze_file(path, embedding=True)


def analyse_bases(
    corpus: Path, n_one_shots: int, n_loops: int, *, seed: int, jobs: int
) -> list[Base]:
    with tempfile.TemporaryDirectory(prefix="samplemind-bench-loops-") as loop_dir:
        one_shots = pick_corpus_files(corpus, n_one_shots, seed=seed)
        loops = render_loops(Path(loop_dir), n_loops, seed=seed)
        paths = [path for _, path in one_shots] + [path for path, _, _ in loops]
        sizes = [Path(path).stat().st_size for path in paths]
        with ProcessPoolExecutor(jobs) as pool:
            records = list(pool.map(_analyse, paths, chunksize=4))
    bases: list[Base] = []
    failed = 0
    for index, record in enumerate(records):
        if record.error is not None or record.embedding is None:
            failed += 1
            continue
        if index < len(one_shots):
            bases.append(Base(record, one_shots[index][0], size_bytes=sizes[index]))
        else:
            _, bpm, bars = loops[index - len(one_shots)]
            record.kind = "loop"
            record.bpm = record.bpm or bpm  # the engine's tempo, or the known one
            bases.append(Base(record, "loop", loop_bars=bars, size_bytes=sizes[index]))
    if failed:
        print(f"  {failed} base files failed analysis and were left out")
    return bases


# ------------------------------------------------------------ varying rows
@dataclasses.dataclass
class RowIds:
    all: list[uuid.UUID] = dataclasses.field(default_factory=list)
    one_shots: list[uuid.UUID] = dataclasses.field(default_factory=list)
    keyed_loops: list[uuid.UUID] = dataclasses.field(default_factory=list)


def vary_rows(
    bases: list[Base],
    n_rows: int,
    owner_id: uuid.UUID,
    *,
    seed: int,
    noise: float,
    loop_share: float,
    batch: int,
    ids: RowIds,
) -> Iterator[list[Any]]:
    """Batches of ``Sample`` objects, each filled by ``store_analysis``."""
    from samplemind.samples.models import Sample
    from samplemind.samples.service import store_analysis

    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    one_shot_bases = [b for b in bases if b.label != "loop"]
    loop_bases = [b for b in bases if b.label == "loop"] or one_shot_bases
    now = datetime.now(UTC)
    made = 0
    while made < n_rows:
        count = min(batch, n_rows - made)
        is_loop = nprng.random(count) < loop_share
        picks = [
            rng.choice(loop_bases) if looped else rng.choice(one_shot_bases) for looped in is_loop
        ]
        vectors = np.asarray([b.record.embedding for b in picks], dtype=np.float64)
        vectors += nprng.normal(0.0, noise, vectors.shape)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        samples = []
        for offset, base in enumerate(picks):
            index = made + offset
            record = dataclasses.replace(base.record, tags=list(base.record.tags))
            record.embedding = [round(float(v), 6) for v in vectors[offset]]
            record.loudness_lufs = _jitter(record.loudness_lufs, rng.gauss(0, 3.0))
            record.peak_dbfs = _jitter(record.peak_dbfs, rng.gauss(0, 2.0), high=0.0)
            if base.label == "loop":
                folder, filename = _loop_row(rng, record, base)
            else:
                folder, filename = _one_shot_row(rng, record, base)
            record.path = f"{folder}/{filename}"
            sample_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
            sample = Sample(
                id=sample_id,
                owner_id=owner_id,
                content_sha256=hashlib.sha256(f"{seed}:{index}".encode()).hexdigest(),
                size_bytes=max(1000, int(base.size_bytes * rng.uniform(0.6, 1.6))),
                original_filename=filename,
                folder_path=folder,
                name=filename.rsplit(".", 1)[0],
                content_type="audio/wav" if filename.endswith(".wav") else "audio/flac",
                status="pending",
                tags=sorted(set(rng.sample(USER_TAGS, rng.randint(1, 3))))
                if rng.random() < 0.3
                else [],
                auto_tags=[],
                created_at=created,
                updated_at=created,
            )
            store_analysis(sample, record)
            sample.analyzed_at = created
            sample.audio_sha256 = hashlib.sha256(f"audio:{seed}:{index}".encode()).hexdigest()
            samples.append(sample)
            ids.all.append(sample_id)
            if sample.kind == "loop" and sample.camelot and sample.bpm:
                ids.keyed_loops.append(sample_id)
            elif sample.kind != "loop":
                ids.one_shots.append(sample_id)
        made += count
        yield samples


def _jitter(value: float | None, delta: float, *, high: float | None = None) -> float | None:
    if value is None:
        return None
    moved = round(value + delta, 2)
    return min(moved, high) if high is not None else moved


def _loop_row(rng: random.Random, record: AnalysisRecord, base: Base) -> tuple[str, str]:
    bpm = round(float(record.bpm or 120.0) * rng.uniform(0.85, 1.15))
    record.bpm = float(bpm)
    record.kind = "loop"
    bars = base.loop_bars or 2
    record.duration = round(bars * 240.0 / bpm, 3)
    melodic = rng.random() < 0.5
    record.category = "melodic_loop" if melodic else "drum_loop"
    record.key = rng.choice(KEYS) if melodic or rng.random() < 0.4 else None
    record.root_note = record.key.split()[0] if record.key else None
    pack = rng.choice(PACKS)
    style = rng.choice(LOOP_STYLES)
    parts = [rng.choice(ADJECTIVES), style, f"{bpm}bpm" if rng.random() < 0.7 else str(bpm)]
    if record.key and rng.random() < 0.6:
        parts.append(SHORT_KEYS[KEYS.index(record.key)])
    parts.append(f"{rng.randint(1, 40):02d}")
    filename = "_".join(parts) + rng.choice((".wav", ".wav", ".flac"))
    folder = (
        f"{rng.choice(VENDORS)}/{pack}/Loops/{bpm} BPM"
        if rng.random() < 0.3
        else (f"{rng.choice(VENDORS)}/{pack}/Loops")
    )
    return folder, filename


def _one_shot_row(rng: random.Random, record: AnalysisRecord, base: Base) -> tuple[str, str]:
    if record.duration is not None:
        record.duration = round(record.duration * rng.uniform(0.7, 1.4), 4)
    if rng.random() < 0.1:  # tuned hits: 808s, toms, stabs
        record.key = rng.choice(KEYS)
        record.root_note = record.key.split()[0]
    word = rng.choice(LABEL_WORDS.get(base.label, ("Hit",)))
    machine = rng.choice(MACHINES)
    pieces = [rng.choice(ADJECTIVES)] if rng.random() < 0.6 else []
    pieces += [machine, word, f"{rng.randint(1, 64):02d}"]
    separator = rng.choice(("_", " ", "-"))
    filename = separator.join(pieces) + rng.choice((".wav", ".wav", ".flac", ".aif"))
    pack = rng.choice(PACKS)
    section = FOLDER_FOR_LABEL.get(base.label, "One Shots")
    folder = f"{rng.choice(VENDORS)}/{pack}/{machine}/{section}"
    if rng.random() < 0.2:
        folder = f"Library/{rng.choice(('Kits', 'Favourites', 'Drums'))}/{section}"
    return folder, filename


async def build_library(
    url: str, bases: list[Base], args: argparse.Namespace, owner_id: uuid.UUID, ids: RowIds
) -> dict[str, Any]:
    from sqlalchemy import text

    from samplemind.core.db import create_engine, create_sessionmaker

    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    stats: dict[str, Any] = {"batch_rows_per_s": []}
    build_seconds = 0.0
    started = time.perf_counter()
    try:
        rows = vary_rows(
            bases, args.rows, owner_id, seed=args.seed, noise=args.noise,
            loop_share=args.loop_share, batch=args.batch, ids=ids,
        )  # fmt: skip
        while True:
            built = time.perf_counter()
            batch = next(rows, None)
            build_seconds += time.perf_counter() - built
            if batch is None:
                break
            inserted = time.perf_counter()
            async with sessionmaker() as db:
                db.add_all(batch)
                await db.commit()
            elapsed = time.perf_counter() - inserted
            stats["batch_rows_per_s"].append(len(batch) / elapsed)
            done = len(ids.all)
            if done % (args.batch * 10) == 0 or done == args.rows:
                print(f"  {done:>7} rows, last batch {len(batch) / elapsed:,.0f} rows/s")
        stats["insert_seconds"] = time.perf_counter() - started - build_seconds
        stats["build_seconds"] = build_seconds
        analyzed = time.perf_counter()
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE samples"))
            await connection.execute(text("ANALYZE sample_search"))
        stats["analyze_seconds"] = time.perf_counter() - analyzed
        async with engine.connect() as connection:
            sizes = await connection.execute(
                text(
                    "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND (c.relname LIKE 'sample%' "
                    "OR c.relname LIKE 'ix_sample%' OR c.relname LIKE 'pk_sample%' "
                    "OR c.relname LIKE 'uq_samples%') ORDER BY 2 DESC"
                )
            )
            stats["sizes_mb"] = {name: round(size / 2**20, 1) for name, size in sizes}
            stats["toast_mb"] = round(
                float(
                    await connection.scalar(
                        text(
                            "SELECT pg_total_relation_size(reltoastrelid) FROM pg_class "
                            "WHERE relname = 'samples' AND reltoastrelid <> 0"
                        )
                    )
                    or 0
                )
                / 2**20,
                1,
            )
            for setting in SHOWN_SETTINGS:
                stats[setting] = await connection.scalar(text(f"SHOW {setting}"))
            stats["pgvector"] = await connection.scalar(
                text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            )
    finally:
        await engine.dispose()
    return stats


# ------------------------------------------------------------ query families
Params = dict[str, Any]


def _tempo_range(rng: random.Random) -> tuple[int, int]:
    low = rng.randint(70, 165)
    return low, low + rng.choice((4, 8, 10, 16))


def family_generators(ids: RowIds) -> dict[str, tuple[str, Callable[[random.Random], Params]]]:
    """Family name → (path, parameter generator)."""

    def filter_(rng: random.Random) -> Params:
        low, high = _tempo_range(rng)
        return {"min_tempo": low, "max_tempo": high, "kind": "loop", "key": rng.choice(SHORT_KEYS)}

    def similar_filter(rng: random.Random) -> Params:
        low, high = _tempo_range(rng)
        return {"similar_to": str(rng.choice(ids.keyed_loops)), "kind": "loop",
                "min_tempo": low, "max_tempo": high}  # fmt: skip

    def combined(rng: random.Random) -> Params:
        return {
            "q": rng.choice(ONE_SHOT_WORDS),
            "kind": "one_shot",
            "max_duration": round(rng.uniform(0.3, 2.0), 2),
            "similar_to": str(rng.choice(ids.one_shots)),
        }

    def compatible(rng: random.Random) -> Params:
        return {"compatible_with": str(rng.choice(ids.keyed_loops)),
                "min_loudness": rng.choice((-30, -24, -18))}  # fmt: skip

    search, audio = "/api/v1/search", "/api/v1/audio"
    return {
        "baseline_me": ("/api/v1/auth/me", lambda rng: {}),  # auth + HTTP, no search
        "filter": (search, filter_),
        "text_word": (search, lambda rng: {"q": rng.choice(TEXT_WORDS)}),
        "text_two_words": (search, lambda rng: {"q": rng.choice(TEXT_PAIRS)}),
        "text_prefix": (search, lambda rng: {"q": rng.choice(TEXT_PREFIXES)}),
        "similar": (search, lambda rng: {"similar_to": str(rng.choice(ids.all))}),
        "similar+filter": (search, similar_filter),
        "text+filter+similar": (search, combined),
        "compatible+filter": (search, compatible),
        "list_p1": (audio, lambda rng: {"page": 1}),
        "list_p50": (audio, lambda rng: {"page": 50}),
    }


def run_http(
    base_url: str, token: str, ids: RowIds, *, requests: int, warmup: int, seed: int
) -> tuple[dict[str, dict[str, Any]], dict[str, list[Params]]]:
    results: dict[str, dict[str, Any]] = {}
    used: dict[str, list[Params]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120.0) as client:
        for number, (family, (path, make)) in enumerate(family_generators(ids).items()):
            rng = random.Random(seed * 1000 + number)
            for _ in range(warmup):
                client.get(path, params=make(rng))
            latencies, totals, errors = [], [], {}
            params_used = [make(rng) for _ in range(requests)]
            for params in params_used:
                started = time.perf_counter()
                response = client.get(path, params=params)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code == 200:
                    totals.append(response.json().get("total", 0))
                else:
                    errors[response.status_code] = errors.get(response.status_code, 0) + 1
                    if len(errors) == 1 and errors[response.status_code] == 1:
                        print(f"  {family}: HTTP {response.status_code} {response.text[:300]}")
            results[family] = {
                **percentiles(latencies),
                "mean_total": float(np.mean(totals)) if totals else None,
                "errors": errors,
            }
            used[family] = params_used
            row = results[family]
            print(
                f"  {family:<20} p50 {row['p50']:7.1f}  p95 {row['p95']:7.1f}  "
                f"p99 {row['p99']:7.1f} ms  mean total {row['mean_total'] or 0:9.0f}"
            )
    return results, used


# ------------------------------------------------ in-process service + EXPLAIN
def _filters(params: Params) -> Any:
    from samplemind.search.filters import SampleFilters

    names = set(SampleFilters.model_fields)
    values = {k: v for k, v in params.items() if k in names}
    if "key" in values:
        values["key"] = [values["key"]]
    return SampleFilters(**values)


async def call_service(db: Any, owner_id: uuid.UUID, family: str, params: Params) -> None:
    """What the endpoint runs for these parameters, minus HTTP, auth and serialisation."""
    from samplemind.search.filters import PageParams
    from samplemind.search.service import SearchRequest, search

    paging = PageParams(page=params.get("page", 1), page_size=50)
    if family == "baseline_me":
        return
    if family.startswith("list"):
        from samplemind.samples.endpoints import list_samples

        user = SimpleNamespace(id=owner_id)
        await list_samples(user, db, _filters(params), paging, "-created_at", False)  # type: ignore[arg-type]
        return
    request = SearchRequest(
        owner_id=owner_id,
        filters=_filters(params),
        paging=paging,
        query=params.get("q"),
        similar_to=uuid.UUID(params["similar_to"]) if "similar_to" in params else None,
        compatible_with=uuid.UUID(params["compatible_with"])
        if "compatible_with" in params
        else None,
    )
    await search(db, request)


async def service_times(
    url: str, owner_id: uuid.UUID, used: dict[str, list[Params]], per_family: int
) -> dict[str, dict[str, float]]:
    from samplemind.core.db import create_engine, create_sessionmaker

    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    results = {}
    try:
        for family, params_list in used.items():
            if family == "baseline_me":
                continue
            latencies = []
            for params in params_list[:per_family]:
                async with sessionmaker() as db:
                    started = time.perf_counter()
                    await call_service(db, owner_id, family, params)
                    latencies.append((time.perf_counter() - started) * 1000)
                    await db.rollback()
            results[family] = percentiles(latencies)
    finally:
        await engine.dispose()
    return results


async def explain(url: str, owner_id: uuid.UUID, used: dict[str, list[Params]]) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the exact statements the service runs."""
    from sqlalchemy import event

    from samplemind.core.db import create_engine, create_sessionmaker

    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    plans: dict[str, str] = {}
    try:
        for family, params_list in used.items():
            if family == "baseline_me":
                continue
            params = params_list[0]
            captured: list[tuple[str, Any]] = []

            def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
                captured.append((statement, parameters))  # noqa: B023

            event.listen(engine.sync_engine, "before_cursor_execute", capture)
            try:
                async with sessionmaker() as db:
                    await call_service(db, owner_id, family, params)
                    await db.rollback()
            finally:
                event.remove(engine.sync_engine, "before_cursor_execute", capture)
            out = [f"params: {json.dumps(params)}"]
            async with engine.connect() as connection:
                raw = (await connection.get_raw_connection()).driver_connection
                assert raw is not None
                transaction = raw.transaction()
                await transaction.start()
                try:
                    for statement, parameters in captured:
                        args = list(parameters or ())
                        if statement.lstrip().upper().startswith("SET"):
                            await raw.execute(statement)
                            out.append(statement)
                            continue
                        rows = await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *args)
                        out.append("-- " + " ".join(statement.split())[:400])
                        out.extend(row[0] for row in rows)
                finally:
                    await transaction.rollback()
            plans[family] = "\n".join(out)
    finally:
        await engine.dispose()
    return plans


# ------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--one-shots", type=int, default=300)
    parser.add_argument("--loops", type=int, default=40)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per family")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per family")
    parser.add_argument("--service-requests", type=int, default=50,
                        help="in-process service calls per family (0: skip)")  # fmt: skip
    parser.add_argument("--noise", type=float, default=0.03, help="embedding noise per dim")
    parser.add_argument("--loop-share", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=2000, help="rows per insert commit")
    parser.add_argument("--jobs", type=int, default=2, help="processes analysing base files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep-db", type=Path, help="build the library in this folder and "
                        "keep it; later runs given the same folder reuse it")  # fmt: skip
    args = parser.parse_args()

    print(f"machine: {machine_summary()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    kept = _kept_library(args)
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    analysis_seconds = 0.0
    bases: list[Base] = []
    if kept is None:
        started = time.perf_counter()
        bases = analyse_bases(
            args.corpus, args.one_shots, args.loops, seed=args.seed, jobs=args.jobs
        )
        analysis_seconds = time.perf_counter() - started
        print(f"analysed {len(bases)} base files in {analysis_seconds:.1f} s")
    with (
        bench_database(keep=args.keep_db) as database,
        tempfile.TemporaryDirectory(prefix="samplemind-bench-serve-") as serve_dir,
    ):
        env = bench_env(database_url=database.url, data_dir=str(Path(serve_dir) / "data"))
        server, base_url = start_serve(env, Path(serve_dir) / "serve.log")
        try:
            if kept is None:
                user, ids = _build(database.url, base_url, bases, args, report)
            else:
                user, ids = _reuse(base_url, kept, report)
            _measure(database.url, base_url, user, ids, args, report)
            report["server_tracebacks"] = server.tracebacks()
        finally:
            server.stop()
    _summary(report, analysis_seconds)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


KEPT_LIBRARY = "library.json"


def _kept_library(args: argparse.Namespace) -> dict[str, Any] | None:
    """What a previous run with ``--keep-db`` built there, if it matches these arguments."""
    if args.keep_db is None or not (args.keep_db / KEPT_LIBRARY).exists():
        return None
    kept: dict[str, Any] = json.loads((args.keep_db / KEPT_LIBRARY).read_text())
    if kept["build"] != _build_args(args):
        raise SystemExit(f"{args.keep_db} holds another library: {kept['build']}")
    print(f"reusing the library kept in {args.keep_db} (built {kept['built_at']})")
    return kept


def _build_args(args: argparse.Namespace) -> dict[str, str]:
    names = ("rows", "one_shots", "loops", "noise", "loop_share", "seed", "corpus")
    return {name: str(getattr(args, name)) for name in names}


def _build(
    url: str, base_url: str, bases: list[Base], args: argparse.Namespace, report: dict[str, Any]
) -> tuple[BenchUser, RowIds]:
    user = register_user(base_url)
    ids = RowIds()
    print(f"inserting {args.rows} rows in batches of {args.batch} ...")
    library = asyncio.run(build_library(url, bases, args, uuid.UUID(user.id), ids))
    report["library"] = library
    print(
        f"inserted {args.rows} rows in {library['insert_seconds']:.1f} s "
        f"({args.rows / library['insert_seconds']:,.0f} rows/s; building the "
        f"objects took another {library['build_seconds']:.1f} s), "
        f"ANALYZE {library['analyze_seconds']:.1f} s"
    )
    print(f"  sizes (MB): {library['sizes_mb']}, toast {library['toast_mb']} MB")
    print(f"  {len(ids.keyed_loops)} keyed loops, {len(ids.one_shots)} one-shots")
    if args.keep_db is not None:
        kept = {
            "build": _build_args(args), "built_at": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "user": {"id": user.id, "email": user.email}, "library": library,
            "ids": {name: [str(i) for i in values] for name, values in vars(ids).items()},
        }  # fmt: skip
        (args.keep_db / KEPT_LIBRARY).write_text(json.dumps(kept, default=str))
    return user, ids


def _reuse(base_url: str, kept: dict[str, Any], report: dict[str, Any]) -> tuple[BenchUser, RowIds]:
    report["library"] = {**kept["library"], "reused": kept["built_at"]}
    ids = RowIds(**{name: [uuid.UUID(i) for i in values] for name, values in kept["ids"].items()})
    email = kept["user"]["email"]
    return BenchUser(id=kept["user"]["id"], email=email, token=login_token(base_url, email)), ids


def _measure(
    url: str,
    base_url: str,
    user: BenchUser,
    ids: RowIds,
    args: argparse.Namespace,
    report: dict[str, Any],
) -> None:
    user.token = login_token(base_url, user.email)  # fresh after the insert
    print(f"HTTP, sequential, {args.requests} requests per family (ms):")
    http, used = run_http(
        base_url, user.token, ids, requests=args.requests, warmup=args.warmup, seed=args.seed
    )
    report["http"] = http
    if args.service_requests:
        print(f"in-process service time, {args.service_requests} calls (ms):")
        service = asyncio.run(service_times(url, uuid.UUID(user.id), used, args.service_requests))
        report["service"] = service
        for family, row in service.items():
            print(f"  {family:<20} p50 {row['p50']:7.1f}  p95 {row['p95']:7.1f}")
    if args.explain:
        plans = asyncio.run(explain(url, uuid.UUID(user.id), used))
        report["explain"] = plans
        for family, plan in plans.items():
            print(f"\n===== EXPLAIN {family}\n{plan}")


def _summary(report: dict[str, Any], analysis_seconds: float) -> None:
    print("\n| family | p50 ms | p95 ms | p99 ms | mean total | service p50 / p95 ms | goal |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for family, row in report.get("http", {}).items():
        service = report.get("service", {}).get(family)
        service_text = f"{service['p50']:.1f} / {service['p95']:.1f}" if service else "-"
        goal = "ok" if row["p95"] < GOAL_P95_MS else "**over 50 ms**"
        errors = f" errors {row['errors']}" if row["errors"] else ""
        print(
            f"| {family} | {row['p50']:.1f} | {row['p95']:.1f} | {row['p99']:.1f} | "
            f"{row['mean_total'] or 0:.0f} | {service_text} | {goal}{errors} |"
        )
    tracebacks = report.get("server_tracebacks") or []
    if tracebacks:
        print("\nserver tracebacks:")
        for block in tracebacks:
            print(block)


if __name__ == "__main__":
    main()
