"""Building library searches: text, filters, "sounds like", "fits with", combined."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    Column,
    ColumnElement,
    Float,
    Row,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import CTE
from sqlalchemy.sql.visitors import iterate, replacement_traverse

from samplemind.core.errors import NotFound, ValidationFailed
from samplemind.samples.models import Sample, SampleSearch
from samplemind.samples.service import find_owned_sample, words
from samplemind.search.camelot import compatible_codes
from samplemind.search.filters import (
    LIST_ITEM_LOADING,
    TOTAL_COUNT_CAP,
    PageParams,
    SampleFilters,
    SortKey,
    Total,
    count_up_to,
    page_total,
    sort_clause,
)
from samplemind.search.vocabulary import canonical

_SAMPLES = Sample.__table__
_SAFE_TERM = re.compile(r"[^a-z0-9]")
TEMPO_RATIOS = (1.0, 2.0, 0.5)
HNSW_DEFAULT_EF_SEARCH = 40  # pgvector's default
HNSW_MAX_EF_SEARCH = 1000  # pgvector's maximum
EXACT_NEAREST_LIMIT = 5000
"""Up to this many matches of a narrowed "sounds like" search are measured exactly."""
EXACT_NEAREST_TEXT_LIMIT = 30000
"""The same, when the search has words. Words usually name a kind of sound, so the
matches sit far from most references and an HNSW scan must reject thousands of
neighbours (measured: 20,000 rejected in 0.5 s without one match) before it finds
a page; measuring every match exactly is cheaper up to many more matches."""
HALFVEC_DISTANCE_ERROR = 0.004
"""More than a cosine distance can move when both vectors are rounded to half precision:
each component moves by at most 2**-11 of itself, so the dot product by at most 2 * 2**-11
of the product of the norms and each norm by 2**-11 of itself, about 0.002 in all
(measured at 100,000 rows: at most 0.00017)."""
OrderedBy = Literal["score", "similarity", "newest"]


def text_query(query: str) -> str | None:
    """A tsquery: every word must match, by prefix or through its synonym."""
    clauses = []
    for word in words(query):
        term = _SAFE_TERM.sub("", word)
        if not term:
            continue
        alternatives = [f"{term}:*"]
        synonym = canonical(term)
        if synonym and synonym != term:
            alternatives.append(_SAFE_TERM.sub("", synonym))
        clauses.append("(" + " | ".join(alternatives) + ")")
    return " & ".join(clauses) or None


@dataclass
class SearchRequest:
    owner_id: uuid.UUID
    filters: SampleFilters
    paging: PageParams
    query: str | None = None
    similar_to: uuid.UUID | None = None
    similar_vector: list[float] | None = None
    compatible_with: uuid.UUID | None = None
    tempo_tolerance: float = 0.06
    total_cap: int = TOTAL_COUNT_CAP
    exact_nearest_limit: int = EXACT_NEAREST_LIMIT
    exact_nearest_text_limit: int = EXACT_NEAREST_TEXT_LIMIT


@dataclass
class SearchResult:
    rows: list[tuple[Sample, float | None, dict[str, float]]]
    total: int
    total_is_lower_bound: bool = False
    ordered_by: OrderedBy = "newest"


@dataclass
class ListPage:
    samples: list[Sample]
    total: Total


async def list_page(
    db: AsyncSession,
    owner_id: uuid.UUID,
    filters: SampleFilters,
    paging: PageParams,
    *,
    sort: SortKey = "-created_at",
    with_analysis: bool = False,
    cap: int = TOTAL_COUNT_CAP,
) -> ListPage:
    """One page of the library, sorted; the total is counted up to ``cap``."""
    conditions = [Sample.owner_id == owner_id, *filters.conditions()]
    counted = await count_up_to(db, conditions, cap)
    statement = select(Sample).where(*conditions).order_by(*sort_clause(sort))
    if not with_analysis:
        statement = statement.options(*LIST_ITEM_LOADING)
    rows = list(await db.scalars(statement.offset(paging.offset).limit(paging.page_size + 1)))
    total = page_total(counted, cap, paging, len(rows))
    return ListPage(samples=rows[: paging.page_size], total=total)


@dataclass
class _Plan:
    conditions: list[ColumnElement[bool]] = field(default_factory=list)
    scores: dict[str, ColumnElement[Any]] = field(default_factory=dict)
    nearest_first: ColumnElement[Any] | None = None
    narrowed: bool = False  # conditions beyond the owner's and the reference's
    text_match: ColumnElement[bool] | None = None  # the text query's condition, if any

    @property
    def worded(self) -> bool:
        return self.text_match is not None


async def _reference(db: AsyncSession, owner_id: uuid.UUID, sample_id: uuid.UUID) -> Sample:
    sample = await find_owned_sample(db, owner_id, sample_id)
    if sample is None:
        raise NotFound("Reference sample not found")
    return sample


def _add_text(plan: _Plan, query: str) -> None:
    tsquery_text = text_query(query)
    if tsquery_text is None:
        raise ValidationFailed("The query has no searchable words", code="empty_query")
    tsquery = func.to_tsquery("simple", tsquery_text)
    plan.text_match = Sample.search_document.op("@@")(tsquery)
    plan.conditions.append(plan.text_match)
    plan.scores["text"] = func.ts_rank_cd(Sample.search_document, tsquery, 32)


def _add_similar(plan: _Plan, vector: list[float], exclude: uuid.UUID | None) -> None:
    distance = Sample.embedding.cosine_distance(vector)
    plan.conditions.append(Sample.embedding.is_not(None))
    if exclude is not None:
        plan.conditions.append(Sample.id != exclude)
    plan.scores["similarity"] = 1 - distance
    plan.nearest_first = distance


def _tempo_window(target: float, tolerance: float) -> ColumnElement[bool]:
    """A range the bpm index can search, a hair wider than ``|bpm/target - 1| <= tolerance``
    (which is tested exactly beside it)."""
    slack = 1e-9 * target
    return Sample.bpm.between(target * (1 - tolerance) - slack, target * (1 + tolerance) + slack)


def _add_compatible(plan: _Plan, reference: Sample, tolerance: float, kind_given: bool) -> None:
    if reference.camelot is None and reference.bpm is None:
        raise ValidationFailed(
            "The reference sample has no key or tempo to match", code="nothing_to_match"
        )
    plan.conditions.append(Sample.id != reference.id)
    if not kind_given:
        plan.conditions.append(Sample.kind == "loop")
    parts: list[ColumnElement[Any]] = []
    if reference.camelot is not None:
        same, relative, *neighbours = compatible_codes(reference.camelot)
        plan.conditions.append(Sample.camelot.in_([same, relative, *neighbours]))
        parts.append(
            case((Sample.camelot == same, 1.0), (Sample.camelot == relative, 0.9), else_=0.8)
        )
    if reference.bpm is not None:
        targets = [reference.bpm * ratio for ratio in TEMPO_RATIOS]
        plan.conditions.append(or_(*(_tempo_window(target, tolerance) for target in targets)))
        deviations = [func.abs(Sample.bpm / target - 1) for target in targets]
        plan.conditions.append(or_(*(deviation <= tolerance for deviation in deviations)))
        closest = func.least(*deviations)
        parts.append(1 - cast(closest, Float) / tolerance * 0.5)
    score: ColumnElement[Any] = parts[0]
    for part in parts[1:]:
        score = score * part
    plan.scores["compatibility"] = score


async def search(db: AsyncSession, request: SearchRequest) -> SearchResult:
    filters = request.filters.conditions()
    plan = _Plan(conditions=[Sample.owner_id == request.owner_id, *filters])
    plan.narrowed = bool(filters or request.query or request.compatible_with)
    if request.query:
        _add_text(plan, request.query)
    vector = request.similar_vector
    if request.similar_to is not None:
        reference = await _reference(db, request.owner_id, request.similar_to)
        if reference.embedding is None:
            raise ValidationFailed("The reference sample is not analysed yet", code="not_analyzed")
        vector = list(reference.embedding)
    if vector is not None:
        _add_similar(plan, vector, request.similar_to)
    if request.compatible_with is not None:
        reference = await _reference(db, request.owner_id, request.compatible_with)
        _add_compatible(plan, reference, request.tempo_tolerance, request.filters.kind is not None)
    return await _run(db, plan, request)


async def _run(db: AsyncSession, plan: _Plan, request: SearchRequest) -> SearchResult:
    """A page in one pass over the matches while they number at most ``limit``; past that,
    one capped count, then a page read in index order (HNSW or newest first)."""
    paging, cap, limit = request.paging, request.total_cap, request.total_cap
    if plan.nearest_first is not None and not plan.narrowed:
        # "Sounds like" alone: all but the smallest libraries have more than ``cap``
        # samples, so the HNSW page comes first, with the capped count in the same query.
        rows = await _nearest_page(db, plan, paging, count_cap=cap)
        counted = int(rows[0].matched) if rows else await count_up_to(db, plan.conditions, cap)
        if counted > cap:
            total = page_total(counted, cap, paging, len(rows))
            return _result(plan, rows, paging, total, "similarity")
    if plan.nearest_first is not None and plan.narrowed:
        exact = request.exact_nearest_text_limit if plan.worded else request.exact_nearest_limit
        limit = max(cap, exact)
    rows = await _first_pass(db, plan, paging, limit=limit, cap=cap)
    if rows:
        counted = int(rows[0].matched)
    else:  # past the last page, or nothing matches
        counted = await count_up_to(db, plan.conditions, limit) if paging.offset else 0
    if counted <= limit:
        ordered_by = _order_for(plan, ranked=counted <= cap)
    elif plan.nearest_first is not None:
        ordered_by = "similarity"
        rows = await _nearest_page(db, plan, paging)
    else:
        ordered_by = "newest"
        rows = await _newest_page(db, plan, paging, cap=cap)
    return _result(plan, rows, paging, page_total(counted, limit, paging, len(rows)), ordered_by)


def _result(
    plan: _Plan, rows: list[Row[Any]], paging: PageParams, total: Total, ordered_by: OrderedBy
) -> SearchResult:
    results = []
    for row in rows[: paging.page_size]:
        scores = {name: round(float(getattr(row, name)), 4) for name in plan.scores}
        score = round(float(row.score), 4) if plan.scores else None
        results.append((row.Sample, score, scores))
    return SearchResult(
        rows=results, total=total.value, total_is_lower_bound=total.is_lower_bound,
        ordered_by=ordered_by,
    )  # fmt: skip


async def _first_pass(
    db: AsyncSession, plan: _Plan, paging: PageParams, *, limit: int, cap: int
) -> list[Row[Any]]:
    """``_page_of_few``; for words, reading the matches from ``sample_search`` when it
    holds every column the search reads; for words with a reference, with sequential
    scans disabled, measuring the matches on the half-precision copies of the
    embeddings and re-ranking the page exactly (``_reranked_page_of_few``).

    A worded search reads many of its matches: all of them with a reference (at 100,000
    rows, 25,000 matches of "perc" filled 14,862 heap pages of ``samples`` and 8,400
    of ``sample_search``), the first ``cap`` without (a sequential scan to the 1,001st
    "kick": 3,548 pages of ``samples``, 2,278 of ``sample_search``).

    PostgreSQL underestimates the cost of ``@@`` on every row: for 20,000 of 100,000
    matching it chose a sequential scan (105-215 ms) over the GIN bitmap (39-45 ms).
    """
    narrow = plan.worded and _reads_only_search_columns(plan)
    if not (plan.worded and plan.nearest_first is not None):
        return await _page_of_few(db, plan, paging, limit=limit, cap=cap, narrow=narrow)
    await db.execute(select(func.set_config("enable_seqscan", "off", True)))
    if narrow:
        rows = await _reranked_page_of_few(db, plan, paging, limit=limit, cap=cap)
    else:
        rows = await _page_of_few(db, plan, paging, limit=limit, cap=cap)
    # No ``finally``: after an error the transaction is aborted, and the setting with it.
    await db.execute(select(func.set_config("enable_seqscan", "on", True)))
    return rows


def _order_for(plan: _Plan, *, ranked: bool) -> OrderedBy:
    """Nearest first for "sounds like" alone; by score while few match; otherwise the
    cheapest meaningful order: nearest first if there is a reference, else newest first."""
    if plan.nearest_first is not None and (len(plan.scores) == 1 or not ranked):
        return "similarity"
    if plan.scores and ranked:
        return "score"
    return "newest"


def _combined(plan: _Plan) -> ColumnElement[Any]:
    if not plan.scores:
        return literal(None)
    return sum(plan.scores.values(), literal(0.0)) / len(plan.scores)


@dataclass
class _Matches:
    """The matches CTE, their count, and the keys that order them (``ranking`` first
    when present: the combined ``score`` while at most ``cap`` match; then ``cheap``)."""

    matches: CTE
    counted: CTE
    keys: list[ColumnElement[Any]]
    score: ColumnElement[Any] | None = None

    def ordered(self, plan: _Plan) -> Any:
        """Each match's id, the count and its keys, best first (ties by id)."""
        return (
            select(self.matches.c.id, self.counted.c.matched, *self.keys)
            .select_from(self.matches).join(self.counted, literal(True))
            .order_by(*_page_order(self.keys, plan), self.matches.c.id)
        )  # fmt: skip


def _matches(plan: _Plan, *, limit: int, cap: int, narrow: bool) -> _Matches:
    """Every match read once, up to ``limit + 1`` (see ``_page_of_few``)."""
    moved = _on_search_table if narrow else _on_samples
    distance = plan.nearest_first if plan.nearest_first is not None else literal(None)
    # Past ``cap`` matches the scores decide nothing, so with a higher ``limit`` the
    # matches carry only their distance and the scores are looked up per match, and only
    # while at most ``cap`` match (a window function marking the first ``cap`` rows cost
    # 12 of 60 ms of CPU over 25,000 matches: it copied every row, embedding and all).
    scored = [moved(column).label(column.name) for column in _scored_columns(plan)]
    matches = (
        select(
            moved(_SAMPLES.c.id).label("id"), moved(_SAMPLES.c.created_at).label("created_at"),
            moved(distance).label("distance"), *(scored if limit <= cap else []),
        )
        .where(*map(moved, plan.conditions)).limit(limit + 1)
        .cte("matches").prefix_with("MATERIALIZED")
    )  # fmt: skip
    counted = (
        select(func.count().label("matched")).select_from(matches)
        .cte("counted").prefix_with("MATERIALIZED")
    )  # fmt: skip
    cheap: ColumnElement[Any] = matches.c.created_at
    if plan.nearest_first is not None:
        cheap = matches.c.distance + 0  # "+ 0": no index may serve this order
    keys: list[ColumnElement[Any]] = [cheap.label("cheap")]
    score = None
    if _ranked(plan):
        score = (
            _combined_on(matches, plan) if limit <= cap
            else _combined_looked_up(matches, plan, moved)
        )  # fmt: skip
        keys.insert(0, case((counted.c.matched <= cap, score)).label("ranking"))
    return _Matches(matches=matches, counted=counted, keys=keys, score=score)


def _ranked(plan: _Plan) -> bool:
    """Whether the combined score can decide the order (it is more than the similarity)."""
    return bool(plan.scores) and not (plan.nearest_first is not None and len(plan.scores) == 1)


async def _page_of_few(
    db: AsyncSession,
    plan: _Plan,
    paging: PageParams,
    *,
    limit: int,
    cap: int,
    narrow: bool = False,
) -> list[Row[Any]]:
    """One page (and one row more), each row with ``matched``: how many match, up to
    ``limit + 1``. Right only when ``matched <= limit``: then every match was read once
    (with the columns its scores need, or, when ``limit > cap``, with its distance only)
    and ordered as ``_order_for`` says, in SQL; scores are computed for every match only
    when they decide the order (``matched <= cap``).

    The page is cut with ``ORDER BY … OFFSET … LIMIT``, which PostgreSQL sorts with a
    bounded top-N heap; the sort keys travel with it, so the join back to ``samples``
    (by primary key, for the page's rows only) can restore the order. With ``narrow``,
    the matches (and the scores looked up past the cap) are read from ``sample_search``.
    """
    found = _matches(plan, limit=limit, cap=cap, narrow=narrow)
    page = (  # the LIMIT tells the planner how few rows join back: by primary key
        found.ordered(plan).offset(paging.offset).limit(paging.page_size + 1).subquery("page")
    )
    statement = (
        select(*_page_columns(plan), page.c.matched)
        .join(page, page.c.id == Sample.id)
        .order_by(*_page_order([page.c[key.name] for key in found.keys], plan), page.c.id)
        .options(*LIST_ITEM_LOADING)
    )  # fmt: skip
    return list(await db.execute(statement))


async def _reranked_page_of_few(
    db: AsyncSession, plan: _Plan, paging: PageParams, *, limit: int, cap: int
) -> list[Row[Any]]:
    """``_page_of_few`` on ``sample_search`` (words and a reference), exact although the
    matches are measured on half-precision embeddings, which move a key (distance, or
    combined score) by at most ``HALFVEC_DISTANCE_ERROR``.

    Let k be the last row wanted (the page and one more). Every row of the exact first
    k has a rounded key within the error of the exact k-th key, which is itself within
    the error of the rounded k-th: so the matches whose rounded key is within twice the
    error of the rounded k-th hold the exact first k. Only those candidates are ordered
    again on the exact embeddings of ``samples``, by id and keys first, and only the
    page's rows are read whole.
    """
    found = _matches(plan, limit=limit, cap=cap, narrow=True)
    rounded: ColumnElement[Any] = found.keys[-1].element  # one ascending key for both orders
    if found.score is not None:
        rounded = case((found.counted.c.matched <= cap, -found.score), else_=rounded)
    last_wanted = (
        select(rounded).select_from(found.matches).join(found.counted, literal(True))
        .order_by(rounded).offset(paging.offset + paging.page_size).limit(1).scalar_subquery()
    )  # fmt: skip
    candidates = (
        select(found.matches.c.id, found.counted.c.matched)
        .select_from(found.matches).join(found.counted, literal(True))
        .where(rounded <= func.coalesce(last_wanted + 2 * HALFVEC_DISTANCE_ERROR, math.inf))
        .subquery("candidates")
    )  # fmt: skip
    exact_keys: list[ColumnElement[Any]] = [plan.nearest_first.label("exact_distance")]  # type: ignore[union-attr]
    if found.score is not None:
        exact_keys.insert(
            0, case((candidates.c.matched <= cap, _combined(plan))).label("exact_ranking")
        )
    page = (
        select(Sample.id, candidates.c.matched, *exact_keys)
        .join(candidates, candidates.c.id == Sample.id)
        .order_by(*_exact_order(exact_keys), Sample.id)
        .offset(paging.offset).limit(paging.page_size + 1).subquery("page")
    )  # fmt: skip
    statement = (
        select(*_page_columns(plan), page.c.matched)
        .join(page, page.c.id == Sample.id)
        .order_by(*_exact_order([page.c[key.name] for key in exact_keys]), page.c.id)
        .options(*LIST_ITEM_LOADING)
    )  # fmt: skip
    return list(await db.execute(statement))


def _exact_order(keys: list[Any]) -> list[ColumnElement[Any]]:
    """The combined score (when present) best first, then the distance nearest first."""
    return [key.desc().nulls_last() if key.name == "exact_ranking" else key.asc() for key in keys]


def _page_order(keys: list[Any], plan: _Plan) -> list[ColumnElement[Any]]:
    """``ranking`` (when present) best first, then ``cheap``: nearest or newest first."""
    order: list[ColumnElement[Any]] = []
    for key in keys:
        if key.name == "ranking":
            order.append(key.desc().nulls_last())
        elif plan.nearest_first is not None:
            order.append(key.asc())
        else:
            order.append(key.desc().nulls_last())
    return order


def _combined_on(matches: CTE, plan: _Plan) -> ColumnElement[Any]:
    """The combined score on the CTE's columns; similarity from its distance."""

    def on_matches(element: Any, **_: Any) -> Any:
        """A column of ``samples`` becomes the CTE's column of that name."""
        if isinstance(element, Column) and element.table is Sample.__table__:
            return matches.c[element.name]
        return None

    parts = [
        1 - matches.c.distance
        if name == "similarity"
        else replacement_traverse(score, {}, on_matches)
        for name, score in plan.scores.items()
    ]
    return sum(parts, literal(0.0)) / len(parts)


def _combined_looked_up(
    matches: CTE, plan: _Plan, moved: Callable[[Any], Any]
) -> ColumnElement[Any]:
    """The combined score of a match whose CTE row holds only its distance: the other
    scores come from its row (in ``samples``, or where ``moved`` moves the columns),
    found by primary key (a correlated subquery, which PostgreSQL runs only where the
    expression is evaluated)."""
    parts: list[ColumnElement[Any]] = []
    looked_up: list[ColumnElement[Any]] = []
    for name, score in plan.scores.items():
        if name == "similarity":
            parts.append(1 - matches.c.distance)
        else:
            looked_up.append(moved(score))
    if looked_up:
        row_id = moved(_SAMPLES.c.id)
        lookup = (  # its own table, not the ``samples`` the outer query joins the page to
            select(sum(looked_up, literal(0.0))).where(row_id == matches.c.id)
            .correlate_except(row_id.table)
        )  # fmt: skip
        parts.append(lookup.scalar_subquery())
    return sum(parts, literal(0.0)) / len(plan.scores)


_SEARCH_TABLE_COLUMNS = {
    "id" if column.name == "sample_id" else column.name: column
    for column in SampleSearch.__table__.columns
}
"""The columns of ``sample_search`` by the name of the ``samples`` column they copy."""


def _samples_columns(expression: ColumnElement[Any]) -> set[str]:
    return {
        element.name
        for element in iterate(expression)
        if isinstance(element, Column) and element.table is Sample.__table__
    }


def _reads_only_search_columns(plan: _Plan) -> bool:
    """Whether ``sample_search`` holds every column the conditions and scores read."""
    read = set().union(*map(_samples_columns, [*plan.conditions, *plan.scores.values()]))
    return read <= _SEARCH_TABLE_COLUMNS.keys()


def _on_search_table(expression: Any) -> Any:
    """``expression`` on the columns of ``sample_search`` instead of ``samples``."""

    def moved(element: Any, **_: Any) -> Any:
        if isinstance(element, Column) and element.table is Sample.__table__:
            return _SEARCH_TABLE_COLUMNS[element.name]
        return None

    return replacement_traverse(expression, {}, moved)


def _on_samples(expression: Any) -> Any:
    return expression


def _scored_columns(plan: _Plan) -> list[Column[Any]]:
    """The columns of ``samples`` that the scores read, but id, created_at and the
    embedding (similarity comes from the distance)."""
    found = {
        element.name: element
        for expression in plan.scores.values()
        for element in iterate(expression)
        if isinstance(element, Column)
        and element.table is Sample.__table__
        and element.name not in ("id", "created_at", "embedding")
    }
    return [found[name] for name in sorted(found)]


def _page_columns(plan: _Plan) -> list[Any]:
    return [
        Sample,
        _combined(plan).label("score"),
        *(column.label(name) for name, column in plan.scores.items()),
    ]


async def _newest_page(
    db: AsyncSession, plan: _Plan, paging: PageParams, *, cap: int
) -> list[Row[Any]]:
    """One page (and one row more) newest first, read in the order of the index.

    Called once more than ``cap`` rows are known to match. PostgreSQL often guesses far
    fewer for words (it multiplies the odds of each: 365 for "boom bap", which 6,053
    rows match), and then reads every match through the GIN index and sorts them all
    (70-115 ms). Within the first ``cap`` matches the newest-first index scan finds the
    page after about ``(offset + page) / matches`` of the library, so the text
    condition is written in a form the GIN index cannot serve (``IS TRUE``), which
    leaves only that scan (3.5 ms).
    """
    conditions = plan.conditions
    if plan.text_match is not None and paging.offset + paging.page_size <= cap:
        conditions = [
            plan.text_match.is_(True) if condition is plan.text_match else condition
            for condition in conditions
        ]
    statement = (
        select(*_page_columns(plan)).where(*conditions)
        .order_by(*sort_clause("-created_at")).options(*LIST_ITEM_LOADING)
        .offset(paging.offset).limit(paging.page_size + 1)
    )  # fmt: skip
    return list(await db.execute(statement))


async def _nearest_page(
    db: AsyncSession, plan: _Plan, paging: PageParams, *, count_cap: int | None = None
) -> list[Row[Any]]:
    """One page (and one row more) nearest first, through the HNSW index; with
    ``count_cap``, each row also carries ``matched``, the matches counted up to
    ``count_cap + 1``.

    The index is scanned in a materialized CTE with an iterative scan, so filters and
    other owners' rows do not starve the page; the outer query restores the exact order
    (relaxed order may swap near neighbours; ``+ 0`` keeps PostgreSQL from assuming the
    CTE is sorted) with ``id`` breaking ties.
    """
    assert plan.nearest_first is not None
    wanted = paging.offset + paging.page_size + 1
    ef_search = min(HNSW_MAX_EF_SEARCH, max(HNSW_DEFAULT_EF_SEARCH, wanted))
    await db.execute(
        select(
            func.set_config("hnsw.ef_search", str(ef_search), True),
            func.set_config("hnsw.iterative_scan", "relaxed_order", True),
        )
    )
    nearest = (
        select(Sample.id, plan.nearest_first.label("distance"))
        .where(*plan.conditions).order_by(plan.nearest_first).limit(wanted)
        .cte("nearest").prefix_with("MATERIALIZED")
    )  # fmt: skip
    columns = _page_columns(plan)
    if count_cap is not None:
        matching = (
            select(literal(1)).select_from(Sample).where(*plan.conditions)
            .limit(count_cap + 1).subquery()
        )  # fmt: skip
        columns.append(
            select(func.count()).select_from(matching).scalar_subquery().label("matched")
        )
    statement = (
        select(*columns).join(nearest, nearest.c.id == Sample.id)
        .order_by(nearest.c.distance + 0, Sample.id).options(*LIST_ITEM_LOADING)
        .offset(paging.offset).limit(paging.page_size + 1)
    )  # fmt: skip
    return list(await db.execute(statement))
