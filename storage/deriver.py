"""The background task that keeps runs and steps in step with the stored spans."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from psycopg_pool import PoolTimeout

from storage.store import StorageUnavailable, Store

logger = logging.getLogger(__name__)


class Deriver:
    """Derives dirty traces soon after each commit, and polls for traces left by other processes.

    ``coalesce_s`` is how long it waits after a wake-up, so a trace arriving in many small
    requests is derived a few times rather than once per request.
    """

    def __init__(self, store: Store, *, poll_s: float = 1.0, coalesce_s: float = 0.05) -> None:
        self.store = store
        self.poll_s = poll_s
        self.coalesce_s = coalesce_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.store.after_commit.append(self.wake)
        self._task = asyncio.create_task(self._run(), name="agentguide-deriver")

    async def stop(self) -> None:
        """Finish deriving what is dirty now (best effort), then stop."""
        if self.wake in self.store.after_commit:
            self.store.after_commit.remove(self.wake)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await asyncio.wait_for(self.store.derive_all_pending(), timeout=10)
        except (TimeoutError, StorageUnavailable, psycopg.Error, PoolTimeout) as exc:
            logger.warning("dirty traces left for the next start: %s", exc)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                await asyncio.sleep(self.coalesce_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.store.derive_all_pending()
            except (StorageUnavailable, psycopg.OperationalError, PoolTimeout) as exc:
                logger.warning("deriving runs paused, the database is unavailable: %s", exc)
                await asyncio.sleep(self.poll_s)
            except Exception:
                logger.exception("deriving runs failed; the traces stay dirty and are retried")
                await asyncio.sleep(self.poll_s)
