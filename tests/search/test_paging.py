"""Capped totals, the order a page comes in, and filters under "sounds like", on rows
written straight to the database (many more than uploads could make in a test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.analysis.embedding import EMBEDDING_DIM
from samplemind.auth.models import User
from samplemind.core.db import create_engine, create_sessionmaker
from samplemind.samples.models import Sample
from samplemind.samples.service import apply_effective_values
from samplemind.search.filters import PageParams, SampleFilters
from samplemind.search.service import SearchRequest, SearchResult, list_page, search

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Library:
    db: AsyncSession
    alice: uuid.UUID
    bob: uuid.UUID
    vectors: dict[uuid.UUID, np.ndarray]
    samples: dict[uuid.UUID, Sample]


def _unit(rng: np.random.Generator) -> np.ndarray:
    vector = rng.standard_normal(EMBEDDING_DIM)
    return np.asarray(vector / np.linalg.norm(vector))


def _sample(owner: uuid.UUID, index: int, vector: np.ndarray, **analysis: Any) -> Sample:
    name = f"{analysis.pop('word', 'kick')} {index:03d}"
    sample = Sample(
        id=uuid.uuid4(), owner_id=owner, content_sha256=f"{owner.hex}{index:032d}",
        size_bytes=1000, original_filename=f"{name}.wav", folder_path="Pack", name=name,
        status="ready", kind=analysis.get("kind", "one_shot"), tags=[], auto_tags=[],
        embedding=[float(v) for v in vector], analysis=analysis,
        created_at=START + timedelta(minutes=index // 2),  # pairs share a time: ties by id
    )  # fmt: skip
    apply_effective_values(sample)
    return sample


@pytest.fixture
async def library(database_url: str) -> AsyncIterator[Library]:
    """Alice: 40 one-shots ("kick" or "snare") and 20 loops at 90-109 BPM; Bob: 20 kicks."""
    engine = create_engine(database_url)
    rng = np.random.default_rng(7)
    try:
        async with create_sessionmaker(engine)() as db:
            users = [User(email=f"{who}@example.com", hashed_password="x") for who in "ab"]
            db.add_all(users)
            await db.flush()
            alice, bob = users[0].id, users[1].id
            rows = [
                _sample(alice, i, _unit(rng), word="kick" if i % 4 else "snare") for i in range(40)
            ]
            rows += [
                _sample(alice, 40 + i, _unit(rng), word="loop", kind="loop", bpm=90.0 + i)
                for i in range(20)
            ]
            rows += [_sample(bob, 60 + i, _unit(rng)) for i in range(20)]
            db.add_all(rows)
            await db.commit()
            yield Library(
                db=db, alice=alice, bob=bob,
                vectors={row.id: np.asarray(row.embedding, dtype=np.float32) for row in rows},
                samples={row.id: row for row in rows},
            )  # fmt: skip
    finally:
        await engine.dispose()


async def _search(
    library: Library,
    *,
    cap: int,
    page: int = 1,
    exact_limit: int = 5000,
    exact_text_limit: int = 30000,
    **values: Any,
) -> SearchResult:
    filters = SampleFilters(**{k: v for k, v in values.items() if k in SampleFilters.model_fields})
    request = SearchRequest(
        owner_id=library.alice, filters=filters, paging=PageParams(page=page, page_size=5),
        query=values.get("query"), similar_to=values.get("similar_to"), total_cap=cap,
        exact_nearest_limit=exact_limit, exact_nearest_text_limit=exact_text_limit,
    )  # fmt: skip
    return await search(library.db, request)


def _ids(result: SearchResult) -> list[uuid.UUID]:
    return [sample.id for sample, _, _ in result.rows]


def _newest_first(samples: list[Sample]) -> list[uuid.UUID]:
    ordered = sorted(samples, key=lambda s: s.id)
    return [s.id for s in sorted(ordered, key=lambda s: s.created_at, reverse=True)]


async def test_total_is_exact_up_to_the_cap_then_a_lower_bound_covering_the_page(
    library: Library,
) -> None:
    exact = await _search(library, cap=100, query="kick")
    assert (exact.total, exact.total_is_lower_bound) == (30, False)
    pages = [await _search(library, cap=8, query="kick", page=page) for page in (1, 2, 6, 7)]
    # Counting stops at 9; each page's total still reaches one row past it.
    assert [(p.total, p.total_is_lower_bound) for p in pages] == [
        (9, True), (11, True), (30, True), (9, True),
    ]  # fmt: skip
    assert [len(p.rows) for p in pages] == [5, 5, 5, 0]
    assert all(
        PageParams(page_size=5).pages(p.total) >= n for p, n in zip(pages, (2, 3, 6), strict=False)
    )


async def test_list_total_is_capped_the_same_way(library: Library) -> None:
    paging = PageParams(page=3, page_size=5)
    exact = await list_page(library.db, library.alice, SampleFilters(), paging, cap=100)
    capped = await list_page(library.db, library.alice, SampleFilters(), paging, cap=4)
    assert (exact.total.value, exact.total.is_lower_bound) == (60, False)
    assert (capped.total.value, capped.total.is_lower_bound) == (16, True)
    assert [s.id for s in capped.samples] == [s.id for s in exact.samples]
    alices = [s for s in library.samples.values() if s.owner_id == library.alice]
    assert [s.id for s in exact.samples] == _newest_first(alices)[10:15]


async def test_many_matches_come_newest_first_and_few_by_score(library: Library) -> None:
    kicks = [
        s for s in library.samples.values() if s.owner_id == library.alice and "kick" in s.name
    ]
    broad = [await _search(library, cap=8, query="kick", page=page) for page in range(1, 7)]
    assert {r.ordered_by for r in broad} == {"newest"}
    assert [i for r in broad for i in _ids(r)] == _newest_first(kicks)  # no gap, no repeat
    ranked = await _search(library, cap=100, query="kick")
    assert ranked.ordered_by == "score"
    scores = [score for _, score, _ in ranked.rows]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def _nearest(library: Library, reference: uuid.UUID, candidates: list[Sample]) -> list[uuid.UUID]:
    query = library.vectors[reference]
    distance = {s.id: 1 - float(library.vectors[s.id] @ query) for s in candidates}
    return sorted(distance, key=lambda i: (round(distance[i], 6), i))


@pytest.mark.parametrize("exact_limit", [5000, 0], ids=["measured", "hnsw"])
async def test_similar_with_filters_returns_only_matching_rows_nearest_first(
    library: Library, exact_limit: int
) -> None:
    loops = [s for s in library.samples.values() if s.kind == "loop"]
    reference = loops[0].id
    matching = [s for s in loops if 95 <= (s.bpm or 0) <= 104 and s.id != reference]
    filters = {"kind": "loop", "min_tempo": 95, "max_tempo": 104}
    pages = [
        await _search(
            library, cap=3, exact_limit=exact_limit, similar_to=reference, page=page, **filters
        )
        for page in (1, 2, 3)
    ]
    found = [i for r in pages for i in _ids(r)]
    assert found == _nearest(library, reference, matching)  # every match, nearest first
    assert {r.ordered_by for r in pages} == {"similarity"}
    similarities = [s["similarity"] for r in pages for _, _, s in r.rows]
    assert similarities == sorted(similarities, reverse=True)


@pytest.mark.parametrize("exact_text_limit", [30000, 0], ids=["measured", "hnsw"])
async def test_words_filters_and_similar_return_only_matching_rows_nearest_first(
    library: Library, exact_text_limit: int
) -> None:
    """The word names another kind of sound than the reference (snares near a kick),
    and more rows match than the cap: every snare one-shot, nearest first, page by page."""
    alices = [s for s in library.samples.values() if s.owner_id == library.alice]
    reference = next(s.id for s in alices if "kick" in s.name)
    snares = [s for s in alices if "snare" in s.name]
    pages = [
        await _search(
            library, cap=3, exact_limit=0, exact_text_limit=exact_text_limit, page=page,
            query="snare", kind="one_shot", similar_to=reference,
        )
        for page in (1, 2, 3)
    ]  # fmt: skip
    assert [i for r in pages for i in _ids(r)] == _nearest(library, reference, snares)
    assert [len(r.rows) for r in pages] == [5, 5, 0]
    assert {r.ordered_by for r in pages} == {"similarity"}
    # The plan setting for the exact pass does not outlive the search.
    assert await library.db.scalar(text("SHOW enable_seqscan")) == "on"


async def test_similar_alone_skips_other_owners_and_pages_through_everything(
    library: Library,
) -> None:
    bobs = [s for s in library.samples.values() if s.owner_id == library.bob]
    reference = next(s for s in library.samples.values() if s.owner_id == library.alice).id
    # Bob's rows are made the nearest of all, so the index meets them first.
    for sample in bobs:
        sample.embedding = [float(v) for v in library.vectors[reference]]
    await library.db.commit()
    pages = [await _search(library, cap=5, similar_to=reference, page=p) for p in range(1, 14)]
    found = [i for r in pages for i in _ids(r)]
    alices = [s for s in library.samples.values() if s.owner_id == library.alice]
    assert found == _nearest(library, reference, [s for s in alices if s.id != reference])
    assert pages[0].total_is_lower_bound and not pages[-1].rows


async def test_similar_alone_in_a_small_library_is_measured_exactly(library: Library) -> None:
    """At most ``cap`` samples: the HNSW page is replaced by the exact pass, every row
    is ranked by its true distance and the total is exact."""
    alices = [s for s in library.samples.values() if s.owner_id == library.alice]
    reference = alices[3].id
    pages = [await _search(library, cap=100, similar_to=reference, page=p) for p in range(1, 14)]
    expected = _nearest(library, reference, [s for s in alices if s.id != reference])
    assert [i for r in pages for i in _ids(r)] == expected
    assert {(r.total, r.total_is_lower_bound) for r in pages} == {(59, False)}
    assert {r.ordered_by for r in pages} == {"similarity"}


async def test_words_and_similar_under_the_cap_rank_every_match_by_both_scores(
    library: Library,
) -> None:
    """The exact pass keeps only the distance of each match and looks the text score up
    while no more than ``cap`` match: then every match is scored on its words."""
    alices = [s for s in library.samples.values() if s.owner_id == library.alice]
    reference = next(s.id for s in alices if "kick" in s.name)
    pages = [
        await _search(
            library, cap=10, query="snare", kind="one_shot", similar_to=reference, page=page
        )
        for page in (1, 2)
    ]
    snares = {s.id for s in alices if "snare" in s.name}
    assert {(r.total, r.total_is_lower_bound, r.ordered_by) for r in pages} == {
        (10, False, "score")
    }
    rows = [row for r in pages for row in r.rows]
    assert {sample.id for sample, _, _ in rows} == snares  # all 10, the 10th scored too
    for _, score, scores in rows:
        assert scores["text"] > 0
        assert score == pytest.approx((scores["text"] + scores["similarity"]) / 2, abs=1e-4)
    combined = [score for _, score, _ in rows]
    assert combined == sorted(combined, reverse=True)  # type: ignore[type-var]


def _at_distances(
    query: np.ndarray, distances: list[float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Unit vectors at these cosine distances from the unit ``query``, in random directions."""
    vectors = []
    for distance in distances:
        side = rng.standard_normal(query.shape)
        side -= (side @ query) * query
        cosine = 1 - distance
        vectors.append(cosine * query + np.sqrt(1 - cosine**2) * side / np.linalg.norm(side))
    return vectors


async def _add_near_ties(library: Library, reference: uuid.UUID, count: int) -> None:
    """``count`` more snares, 0.00001 apart in distance from the reference: closer than
    the rounding of half-precision embeddings (about 0.0001), so their copies in
    ``sample_search`` order them otherwise than their exact embeddings."""
    query = library.vectors[reference].astype(np.float64)
    query /= np.linalg.norm(query)
    distances = [0.2 + 1e-5 * i for i in range(count)]
    vectors = _at_distances(query, distances, np.random.default_rng(11))
    rows = [_sample(library.alice, 100 + i, v, word="snare") for i, v in enumerate(vectors)]
    library.db.add_all(rows)
    await library.db.commit()
    library.vectors.update({row.id: np.asarray(row.embedding, dtype=np.float32) for row in rows})
    library.samples.update({row.id: row for row in rows})


_SNARES_NEAREST_FIRST = """
    SELECT c.sample_id FROM sample_search c JOIN samples s ON s.id = c.sample_id
    WHERE s.owner_id = :owner AND s.name LIKE 'snare%%'
    ORDER BY %s <=> (SELECT embedding FROM samples WHERE id = :reference)%s, c.sample_id
"""


async def _orders(library: Library, reference: uuid.UUID) -> tuple[list[Any], list[Any]]:
    """Alice's snares nearest first by the half-precision copies, and by the exact ones."""
    params = {"owner": library.alice, "reference": reference}
    rounded = await library.db.scalars(
        text(_SNARES_NEAREST_FIRST % ("c.embedding", "::halfvec")), params
    )
    exact = await library.db.scalars(text(_SNARES_NEAREST_FIRST % ("s.embedding", "")), params)
    return list(rounded), list(exact)


@pytest.mark.parametrize("cap", [3, 100], ids=["by-similarity", "by-score"])
async def test_words_and_similar_are_exact_where_half_precision_would_reorder(
    library: Library, cap: int
) -> None:
    """The matches are measured on half-precision embeddings, which cannot tell these
    near ties apart: in their order, a row of each of the first pages belongs to a later
    one. The candidates within twice the rounding error of the page's last row are
    ordered again on the exact embeddings: the exact order, page by page."""
    alices = [s for s in library.samples.values() if s.owner_id == library.alice]
    reference = next(s.id for s in alices if "kick" in s.name)
    await _add_near_ties(library, reference, 30)
    rounded, exact = await _orders(library, reference)
    # Some page's rows are not all among the page and one more row in the rounded order.
    assert any(not set(exact[:end]) <= set(rounded[: end + 1]) for end in range(5, 31, 5))
    snares = [s for s in library.samples.values() if "snare" in s.name]
    words = {"query": "snare", "kind": "one_shot", "similar_to": reference}
    pages = [await _search(library, cap=cap, page=page, **words) for page in range(1, 10)]
    assert [i for r in pages for i in _ids(r)] == _nearest(library, reference, snares) == exact
    assert {r.ordered_by for r in pages} == {"similarity" if cap == 3 else "score"}
