"""A pass of background work every so many seconds, until stopped: the loop that the
retention and compaction jobs share."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class PeriodicJob:
    """Calls ``run_once`` every ``interval_s`` seconds until ``stop``; the first pass runs at
    start when ``first_pass_at_start``, else after one interval."""

    def __init__(self, interval_s: float, *, first_pass_at_start: bool) -> None:
        self.interval_s = interval_s
        self.first_pass_at_start = first_pass_at_start
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        if self.first_pass_at_start and not self._stopping.is_set():
            await self.run_once()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval_s)
            if not self._stopping.is_set():
                await self.run_once()

    async def run_once(self) -> Any:
        raise NotImplementedError
