"""Duplicate groups for cleaning a library.

Exact duplicates share their decoded audio (``audio_sha256``), so a WAV and its FLAC copy
match. Near duplicates have embeddings within a cosine distance of each other.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.samples.models import Sample

NEIGHBOURS_PER_SAMPLE = 5


class DuplicateMember(BaseModel):
    id: uuid.UUID
    name: str
    original_filename: str
    folder_path: str
    format: str | None
    size_bytes: int


class DuplicateGroup(BaseModel):
    kind: str
    samples: list[DuplicateMember]
    max_distance: float = 0.0


class DuplicateReport(BaseModel):
    exact: list[DuplicateGroup]
    near: list[DuplicateGroup]


def _member(sample: Sample) -> DuplicateMember:
    return DuplicateMember.model_validate(sample, from_attributes=True)


async def _exact_groups(db: AsyncSession, owner_id: uuid.UUID) -> list[list[Sample]]:
    shared = (
        select(Sample.audio_sha256)
        .where(Sample.owner_id == owner_id, Sample.audio_sha256.is_not(None))
        .group_by(Sample.audio_sha256)
        .having(func.count() > 1)
    )
    rows = await db.scalars(
        select(Sample)
        .where(Sample.owner_id == owner_id, Sample.audio_sha256.in_(shared))
        .order_by(Sample.audio_sha256, Sample.created_at)
    )
    groups: dict[str, list[Sample]] = {}
    for sample in rows:
        groups.setdefault(sample.audio_sha256 or "", []).append(sample)
    return list(groups.values())


async def _near_pairs(
    db: AsyncSession, owner_id: uuid.UUID, threshold: float
) -> list[tuple[uuid.UUID, uuid.UUID, float]]:
    await db.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    rows = await db.execute(
        text(
            """
            SELECT a.id, n.id, n.distance
            FROM samples a
            CROSS JOIN LATERAL (
                SELECT b.id, b.embedding <=> a.embedding AS distance
                FROM samples b
                WHERE b.owner_id = a.owner_id AND b.id <> a.id AND b.embedding IS NOT NULL
                ORDER BY b.embedding <=> a.embedding
                LIMIT :k
            ) n
            WHERE a.owner_id = :owner AND a.embedding IS NOT NULL AND n.distance <= :threshold
              AND a.id < n.id
            """
        ),
        {"owner": owner_id, "k": NEIGHBOURS_PER_SAMPLE, "threshold": threshold},
    )
    return [(row[0], row[1], float(row[2])) for row in rows]


def _connected(
    pairs: list[tuple[uuid.UUID, uuid.UUID, float]],
) -> list[tuple[set[uuid.UUID], float]]:
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def root(node: uuid.UUID) -> uuid.UUID:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b, _ in pairs:
        parent[root(a)] = root(b)
    groups: dict[uuid.UUID, set[uuid.UUID]] = {}
    worst: dict[uuid.UUID, float] = {}
    for a, b, distance in pairs:
        top = root(a)
        groups.setdefault(top, set()).update((a, b))
        worst[top] = max(worst.get(top, 0.0), distance)
    return [(members, worst[top]) for top, members in groups.items()]


async def find_duplicates(
    db: AsyncSession, *, owner_id: uuid.UUID, threshold: float
) -> DuplicateReport:
    exact = await _exact_groups(db, owner_id)
    exact_ids = {sample.id for group in exact for sample in group}
    near_sets = [
        (members, distance)
        for members, distance in _connected(await _near_pairs(db, owner_id, threshold))
        if not members <= exact_ids
    ]
    wanted = {member for members, _ in near_sets for member in members}
    by_id: dict[Any, Sample] = {}
    if wanted:
        by_id = {s.id: s for s in await db.scalars(select(Sample).where(Sample.id.in_(wanted)))}
    return DuplicateReport(
        exact=[
            DuplicateGroup(kind="exact", samples=[_member(s) for s in group]) for group in exact
        ],
        near=[
            DuplicateGroup(
                kind="near",
                samples=[_member(by_id[m]) for m in sorted(members, key=str)],
                max_distance=round(distance, 6),
            )
            for members, distance in near_sets
        ],
    )
