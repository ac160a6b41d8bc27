"""Work started by a request that must not hold up its response (sending mail).

Each job is an asyncio task owned by the app: an error is logged, never raised into a
request, and shutdown waits a bounded time for the jobs still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class DetachedTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def spawn(self, job: Coroutine[Any, Any, object], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(job, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every job, including jobs started meanwhile, has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self, *, grace_seconds: float) -> None:
        """Wait up to ``grace_seconds`` for running jobs, then cancel the rest."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in late:
            logger.warning("cancelling background job %s at shutdown", task.get_name())
            task.cancel()
        if late:
            await asyncio.wait(late)

    @staticmethod
    async def _run(job: Coroutine[Any, Any, object], name: str) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background job %s failed", name)
