"""Turning received files into samples and jobs; refusing what is not audio."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from samplemind.analysis.decode import decode_audio
from samplemind.analysis.errors import AnalysisError, AnalysisErrorCode
from samplemind.core.errors import AppError, Conflict
from samplemind.jobs.models import Job
from samplemind.samples.models import Sample
from samplemind.samples.multipart import ReceivedFile, UnsupportedMediaType
from samplemind.samples.service import apply_effective_values
from samplemind.samples.storage import Storage, StorageUnavailable

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 512
MAX_FOLDER_LENGTH = 1024
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class InvalidAudio(AppError):
    status_code = 422


class UploadConflict(Conflict):
    """The stored file went away: a concurrent removal of the content's last sample
    deleted it after it was received. The upload is gone with it; the client resends."""

    code = "upload_conflict"

    def __init__(self) -> None:
        super().__init__("The upload collided with a deletion; please upload again")


@dataclass
class NewUpload:
    sample: Sample
    job: Job | None
    duplicate: bool


def printable(text: str) -> str:
    """``text`` without control characters (PostgreSQL refuses NUL in text)."""
    return _CONTROL_CHARACTERS.sub("", text)


def split_upload_path(filename: str, folder_field: str) -> tuple[str, str]:
    """("Drums/Kicks/BD 01.wav", "Library") → ("Library/Drums/Kicks", "BD 01.wav").

    Browsers send folder uploads with relative paths as file names; ".." and absolute
    parts and control characters are dropped.
    """
    path = printable(f"{folder_field}/{filename.replace(chr(92), '/')}")
    parts = [part for part in PurePosixPath(path).parts if part not in ("", "/", ".", "..")]
    name = parts[-1] if parts else "untitled"
    return "/".join(parts[:-1])[:MAX_FOLDER_LENGTH], name[:MAX_NAME_LENGTH]


def audio_error(code: str, message: str) -> AppError:
    """The API error for an engine error code: 415 when it is not audio, else 422."""
    if code == AnalysisErrorCode.UNSUPPORTED_FORMAT:
        return UnsupportedMediaType(message, code=code)
    return InvalidAudio(message, code=code)


def check_audio(storage: Storage, sha256: str, *, max_duration: float) -> None:
    """Decode the stored content fully; raise 415/422 with the engine's error code."""
    try:
        with storage.open(sha256) as handle:
            decode_audio(handle, max_duration=max_duration)
    except AnalysisError as exc:
        raise audio_error(exc.code.value, exc.message) from exc
    except FileNotFoundError as exc:
        raise UploadConflict from exc


async def lock_content(db: AsyncSession, sha256: str) -> None:
    """Serialise, per content, creating samples and deleting their stored file."""
    await db.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:sha, 0))"), {"sha": sha256}
    )


async def lock_contents(db: AsyncSession, sha256s: Iterable[str]) -> None:
    """:func:`lock_content` for several files at once, in one global order (sorted):
    two batches sharing files in different orders would otherwise deadlock."""
    for sha256 in sorted(set(sha256s)):
        await lock_content(db, sha256)


async def delete_unused(db: AsyncSession, storage: Storage, sha256: str) -> None:
    """Delete the stored file unless a sample still refers to it; the caller holds the
    content's lock (:func:`lock_content`) and commits."""
    in_use = await db.scalar(
        select(func.count()).select_from(Sample).where(Sample.content_sha256 == sha256)
    )
    if not in_use:
        await asyncio.to_thread(storage.delete, sha256)


async def release_content(db: AsyncSession, storage: Storage, sha256: str) -> None:
    """Delete the stored file unless a sample still refers to it (commits ``db``)."""
    await lock_content(db, sha256)
    await delete_unused(db, storage, sha256)
    await db.commit()


async def release_all(db: AsyncSession, storage: Storage, files: list[ReceivedFile]) -> None:
    """After a failed upload: drop its changes and each of its files no sample uses.

    Best effort, so that the failure itself is reported: with the storage or the
    database unreachable, a file can stay (logged).
    """
    await db.rollback()
    for sha256 in dict.fromkeys(received.blob.sha256 for received in files):
        try:
            await release_content(db, storage, sha256)
        except StorageUnavailable as outage:  # the failure answered is logged with its cause
            logger.warning("kept %s after a failed upload: %r", sha256, outage.__cause__)
            await db.rollback()
        except Exception:
            logger.exception("could not delete %s after a failed upload", sha256)
            await db.rollback()


async def add_sample(
    db: AsyncSession,
    storage: Storage,
    *,
    owner_id: uuid.UUID,
    received: ReceivedFile,
    folder_field: str,
    analysis_type: str = "standard",
) -> NewUpload:
    """Create the sample and its queued job, or return the owner's existing copy.

    The caller holds the content's lock (:func:`lock_contents`) until it commits."""
    sha256 = received.blob.sha256
    existing = await _owned_copy(db, owner_id, sha256)
    if existing is not None:
        return NewUpload(existing, await latest_job(db, existing.id), duplicate=True)
    folder, filename = split_upload_path(received.filename, folder_field)
    sample = Sample(
        owner_id=owner_id,
        content_sha256=sha256,
        size_bytes=received.blob.size,
        original_filename=filename,
        folder_path=folder,
        name=PurePosixPath(filename).stem or filename,
        content_type=printable(received.content_type or "")[:128] or None,
        status="pending",
        tags=[],
        auto_tags=[],
    )
    apply_effective_values(sample)
    try:
        async with db.begin_nested():
            if not await asyncio.to_thread(storage.exists, sha256):
                raise UploadConflict
            db.add(sample)
            await db.flush()
    except IntegrityError:  # the same content arrived twice at once
        existing = await _owned_copy(db, owner_id, sha256)
        assert existing is not None
        return NewUpload(existing, await latest_job(db, existing.id), duplicate=True)
    job = Job(owner_id=owner_id, sample_id=sample.id, analysis_type=analysis_type)
    db.add(job)
    await db.flush()
    return NewUpload(sample, job, duplicate=False)


async def _owned_copy(db: AsyncSession, owner_id: uuid.UUID, sha256: str) -> Sample | None:
    found: Sample | None = await db.scalar(
        select(Sample).where(Sample.owner_id == owner_id, Sample.content_sha256 == sha256)
    )
    return found


async def latest_job(db: AsyncSession, sample_id: uuid.UUID) -> Job | None:
    found: Job | None = await db.scalar(
        select(Job).where(Job.sample_id == sample_id).order_by(Job.created_at.desc()).limit(1)
    )
    return found
