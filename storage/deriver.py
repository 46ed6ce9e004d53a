"""The loop that keeps runs and steps in step with the stored spans."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import psycopg
from psycopg_pool import PoolTimeout

from storage.errors import StorageUnavailable
from storage.store import Store

logger = logging.getLogger(__name__)


class Deriver:
    """Derives dirty traces soon after a wake-up, and polls for traces left by other receivers.

    ``coalesce_s`` is how long it waits after a wake-up, so a trace arriving in many small
    requests is derived a few times rather than once per request. ``on_batch`` is told the
    traces and the seconds of every batch derived.
    """

    def __init__(
        self,
        store: Store,
        *,
        poll_s: float = 1.0,
        coalesce_s: float = 0.05,
        max_rest_s: float = 0.25,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.store = store
        self.poll_s = poll_s
        self.coalesce_s = coalesce_s
        self.max_rest_s = max_rest_s
        self.on_batch = on_batch
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Ask ``run`` to finish what is dirty now and return."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        rest_s = self.coalesce_s
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                await asyncio.sleep(rest_s)
            self._wake.clear()
            started = time.monotonic()
            await self._derive_once()
            rest_s = min(self.max_rest_s, max(self.coalesce_s, time.monotonic() - started))
        await self._derive_once()

    async def _derive_once(self) -> None:
        try:
            while True:
                started = time.perf_counter()
                claimed = await self.store.derive_pending()
                if not claimed:
                    break
                if self.on_batch is not None:
                    self.on_batch(claimed, time.perf_counter() - started)
        except (StorageUnavailable, psycopg.OperationalError, PoolTimeout) as exc:
            logger.warning("deriving runs paused, the database is unavailable: %s", exc)
            await asyncio.sleep(self.poll_s)
        except Exception:
            logger.exception("deriving runs failed; the traces stay dirty and are retried")
            await asyncio.sleep(self.poll_s)
