"""The retention loop of the derive worker: a pass at start, then one every interval."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from agentguide.periodic_job import PeriodicJob
from storage.errors import StorageUnavailable
from storage.partitions import NS_PER_DAY
from storage.retention import Retention, RetentionPass

logger = logging.getLogger("agentguide.retention")


class RetentionJob(PeriodicJob):
    """Deletes the traces that ended more than ``days`` ago, every ``interval_s`` seconds
    (the first pass at start)."""

    def __init__(
        self,
        retention: Retention,
        days: float,
        interval_s: float,
        *,
        on_pass: Callable[[RetentionPass], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if days <= 0:
            raise ValueError("retention days must be positive")
        super().__init__(interval_s, first_pass_at_start=True)
        self.retention = retention
        self.days = days
        self.on_pass = on_pass
        self._clock_ns = clock_ns

    def horizon_ns(self) -> int:
        return self._clock_ns() - round(self.days * NS_PER_DAY)

    async def run_once(self) -> RetentionPass | None:
        started = time.perf_counter()
        try:
            done = await self.retention.delete_before(self.horizon_ns())
        except StorageUnavailable as exc:
            logger.warning("retention paused, the database is unavailable: %s", exc)
            return None
        except Exception:
            logger.exception("retention pass failed; it is tried again next interval")
            return None
        if self.on_pass is not None:
            self.on_pass(done)
        if done.days or done.default_rows:
            logger.info(
                "retention dropped %d day(s) older than %g days (%d partitions, %d rows of "
                "undated days); %d traces straddling the horizon are derived again",
                done.days,
                self.days,
                done.partitions,
                done.default_rows,
                done.straddling_traces,
                extra={"seconds": round(time.perf_counter() - started, 3)},
            )
        return done
