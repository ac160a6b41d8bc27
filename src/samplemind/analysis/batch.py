"""Analyse many files: folder walking and a crash-tolerant process pool.

Which files: :func:`iter_audio_paths` does not trust extensions to say what is
audio (the decoder sniffs the content), with one exception. A file named
explicitly is always analysed, whatever its name, so the record can say
``unsupported_format``. A folder walk skips hidden files and folders and files
whose extension is a known non-audio kind (:data:`NON_AUDIO_SUFFIXES`: text,
images, archives, DAW projects, MIDI, waveform caches such as Ableton ``.asd``),
which sample packs are full of and which would only add noise to the output.

Order: :func:`analyze_many` yields the records in input order. At most
``4 * workers`` files are in flight, so a list of 100,000 paths is never queued
at once and a slow file delays the output, not the workers, by at most that much.

Pool size: at most one process per file and :data:`MAX_WORKERS`, whatever is asked
(the pool forks all its processes at once; past the cores, more only cost memory).
"""

from __future__ import annotations

import functools
import math
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeGuard

from threadpoolctl import threadpool_limits

from .errors import AnalysisErrorCode
from .pipeline import DEFAULT_MAX_DURATION, analyze_file
from .record import AnalysisRecord

__all__ = ["MAX_WORKERS", "NON_AUDIO_SUFFIXES", "analyze_many", "iter_audio_paths", "pool_size"]

MAX_WORKERS = 4 * (os.cpu_count() or 1)
"""The most processes a pool starts."""

# fmt: off
NON_AUDIO_SUFFIXES: frozenset[str] = frozenset(
    {
        # text and documents
        ".txt", ".md", ".rst", ".nfo", ".rtf", ".pdf", ".doc", ".docx", ".html", ".htm",
        ".json", ".xml", ".yaml", ".yml", ".csv", ".ini", ".cfg", ".log", ".url", ".lnk",
        # images and video
        ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".svg", ".ico", ".tif", ".tiff",
        ".mp4", ".mov", ".avi", ".mkv",
        # archives and executables
        ".zip", ".rar", ".7z", ".gz", ".tar", ".bz2", ".xz", ".exe", ".dll", ".dmg", ".pkg",
        # waveform caches and sidecars written by audio editors
        ".asd", ".reapeaks", ".pkf", ".sfk", ".peak", ".db",
        # MIDI, DAW projects, instrument and preset files
        ".mid", ".midi", ".als", ".alp", ".adg", ".adv", ".flp", ".logicx", ".ptx", ".rpp",
        ".nki", ".nkm", ".nkc", ".nkx", ".nkr", ".fxp", ".fxb", ".sfz", ".py",
    }
)
# fmt: on
"""Extensions a folder walk skips (lower case, with the dot)."""

_IN_FLIGHT_PER_WORKER = 4
_WORKER_DIED = (
    "the worker process analysing this file died (a crash in native code or out of "
    "memory); the file was retried alone and it died again"
)


def iter_audio_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Expand files and folders into the files to analyse.

    Args:
        paths: files and folders, in the order wanted. Folders are walked
            recursively (symlinked folders are not followed).

    Yields:
        Each file once, in the given order; a folder's files in sorted path
        order, without hidden entries or :data:`NON_AUDIO_SUFFIXES`. Any
        other path (a file, or one that does not exist) is yielded as given;
        its record then says what is wrong with it.
    """
    seen: set[str] = set()
    for given in paths:
        path = Path(given)
        candidates = _walk_folder(path) if path.is_dir() else [path]
        for candidate in candidates:
            identity = os.path.normcase(os.path.abspath(candidate))
            if identity not in seen:
                seen.add(identity)
                yield candidate


def _walk_folder(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        found.extend(
            Path(folder, name)
            for name in filenames
            if _is_candidate(name) and os.path.isfile(os.path.join(folder, name))
        )
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def _is_candidate(filename: str) -> bool:
    return not filename.startswith(".") and Path(filename).suffix.lower() not in NON_AUDIO_SUFFIXES


def analyze_many(
    paths: Iterable[str | os.PathLike[str]],
    *,
    workers: int | None = None,
    embedding: bool = False,
    max_duration: float = DEFAULT_MAX_DURATION,
) -> Iterator[AnalysisRecord]:
    """Analyse files in parallel, one record per path, in input order.

    Args:
        paths: the files (expand folders first with :func:`iter_audio_paths`);
            consumed lazily.
        workers: processes to use; ``None`` means ``os.cpu_count()``. ``1``
            analyses in this process, without a pool; more starts a pool of
            :func:`pool_size` processes.
        embedding: also compute each file's embedding.
        max_duration: longest audio accepted, in seconds.

    Yields:
        :class:`AnalysisRecord` per path. If a worker process dies, the files
        it may have been holding are retried one by one in fresh processes; a
        file that kills its process again gets an ``internal_error`` record.
    """
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    if not 0 < max_duration < math.inf:
        raise ValueError(f"max_duration must be a positive finite number, got {max_duration}")
    task = functools.partial(_analyze_path, embedding=embedding, max_duration=max_duration)
    if workers == 1:
        return _analyze_in_process(paths, task=task)
    return _analyze_in_pool(paths, task=task, workers=pool_size(workers, paths))


def pool_size(workers: int, paths: Iterable[object]) -> int:
    """``workers`` capped at :data:`MAX_WORKERS` and, when ``paths`` has a length, at it."""
    size = min(workers, MAX_WORKERS)
    if isinstance(paths, Sized):
        size = min(size, max(1, len(paths)))
    return size


def _analyze_in_process(
    paths: Iterable[str | os.PathLike[str]], *, task: Task
) -> Iterator[AnalysisRecord]:
    restore = limit_blas_threads()
    try:
        for path in paths:
            yield task(path)
    finally:
        restore()


def limit_blas_threads() -> Callable[[], None]:
    """Run BLAS single-threaded; returns the function that restores the old limits.

    The engine's matrix products are small: OpenBLAS's helper threads only
    spin, and measured on the 2-core machine they halve the throughput of a
    single process and cut a 2-process pool's to a third. Call it once in
    every process that analyses; the processes are the parallelism.
    """
    limits = threadpool_limits(limits=1, user_api="blas")

    def restore() -> None:
        limits.restore_original_limits()

    return restore


def _analyze_path(
    path: str | os.PathLike[str], *, embedding: bool, max_duration: float
) -> AnalysisRecord:
    return analyze_file(path, embedding=embedding, max_duration=max_duration)


Task = Callable[[str | os.PathLike[str]], AnalysisRecord]
_Pending = deque[tuple[str | os.PathLike[str], "Future[AnalysisRecord] | None"]]


def _analyze_in_pool(
    paths: Iterable[str | os.PathLike[str]], *, task: Task, workers: int
) -> Iterator[AnalysisRecord]:
    window = _IN_FLIGHT_PER_WORKER * workers
    remaining = iter(paths)
    pending: _Pending = deque()
    pool = _new_pool(workers)
    try:
        while True:
            _fill_window(pool, pending, remaining, task=task, window=window)
            if not pending:
                return
            path, future = pending[0]
            try:
                record = _result(path, future)
            except BrokenProcessPool:
                pool.shutdown(wait=False, cancel_futures=True)
                yield from _recover(pending, task=task)
                pool = _new_pool(workers)
                continue
            pending.popleft()
            yield record
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _fill_window(
    pool: ProcessPoolExecutor,
    pending: _Pending,
    remaining: Iterator[str | os.PathLike[str]],
    *,
    task: Task,
    window: int,
) -> None:
    while len(pending) < window:
        path = next(remaining, None)
        if path is None:
            return
        try:
            future: Future[AnalysisRecord] | None = pool.submit(task, path)
        except BrokenProcessPool:
            future = None  # the pool died meanwhile; _result re-raises for it
        pending.append((path, future))


def _result(path: str | os.PathLike[str], future: Future[AnalysisRecord] | None) -> AnalysisRecord:
    """The future's record; raises ``BrokenProcessPool`` if its worker died."""
    if future is None:
        raise BrokenProcessPool("pool broken before submission")
    try:
        return future.result()
    except BrokenProcessPool:
        raise
    except Exception as exc:  # e.g. a record that failed to pickle
        return _error_record(path, f"{type(exc).__name__}: {exc}")


def _recover(pending: _Pending, *, task: Task) -> Iterator[AnalysisRecord]:
    """After a worker died: keep finished results, retry the rest one by one."""
    while pending:
        path, future = pending.popleft()
        if _finished_ok(future):
            yield future.result()
        else:
            yield _run_alone(path, task=task)


def _finished_ok(future: Future[AnalysisRecord] | None) -> TypeGuard[Future[AnalysisRecord]]:
    return (
        future is not None
        and future.done()
        and not future.cancelled()
        and future.exception() is None
    )


def _run_alone(path: str | os.PathLike[str], *, task: Task) -> AnalysisRecord:
    """Analyse one file in a fresh one-process pool, so a crash only costs this file."""
    with _new_pool(1) as solo:
        try:
            return _result(path, solo.submit(task, path))
        except BrokenProcessPool:
            return _error_record(path, _WORKER_DIED)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, initializer=_init_worker)


def _init_worker() -> None:
    # Ctrl-C goes to the whole process group: let the parent handle it and
    # shut the pool down, instead of every worker printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_blas_threads()  # one BLAS thread per worker: the pool is the parallelism


def _error_record(path: str | os.PathLike[str], message: str) -> AnalysisRecord:
    return AnalysisRecord(
        path=str(path),
        error={"code": AnalysisErrorCode.INTERNAL_ERROR.value, "message": message},
    )
