"""The compaction loop of the first derive worker: a pass every interval, the first one interval
after start (a restarted server derives its backlog first)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from agentguide.periodic_job import PeriodicJob
from storage.compaction import COMPACT_AFTER_S, CompactionPass, compact_database
from storage.errors import StorageUnavailable
from storage.partitions import NS_PER_DAY

logger = logging.getLogger("agentguide.compaction")

DEFAULT_COMPACT_AFTER_S = COMPACT_AFTER_S
DEFAULT_COMPACTION_INTERVAL_S = 600.0


class CompactionJob(PeriodicJob):
    """Compacts the day partitions whose day ended ``compact_after_s`` ago, every
    ``interval_s`` seconds (the first pass after one interval); with retention on, not the
    days it drops within a day."""

    def __init__(
        self,
        database_url: str,
        compact_after_s: float = DEFAULT_COMPACT_AFTER_S,
        interval_s: float = DEFAULT_COMPACTION_INTERVAL_S,
        *,
        retention_days: float | None = None,
        on_pass: Callable[[CompactionPass], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if compact_after_s < 0 or interval_s <= 0:
            raise ValueError("compact_after_s must be 0 or more and interval_s more than 0")
        super().__init__(interval_s, first_pass_at_start=False)
        self.database_url = database_url
        self.compact_after_s = compact_after_s
        self.retention_days = retention_days
        self.on_pass = on_pass
        self._clock_ns = clock_ns

    def drop_horizon_ns(self) -> int | None:
        """Days ending before this are dropped by retention within a day: not worth compacting."""
        if not self.retention_days:
            return None
        return self._clock_ns() - round((self.retention_days - 1) * NS_PER_DAY)

    async def run_once(self) -> CompactionPass | None:
        started = time.perf_counter()
        try:
            done = await compact_database(
                self.database_url,
                compact_after_ns=round(self.compact_after_s * 10**9),
                drop_horizon_ns=self.drop_horizon_ns(),
            )
        except StorageUnavailable as exc:
            logger.warning("compaction paused, the database is unavailable: %s", exc)
            return None
        except Exception:
            logger.exception("compaction pass failed; it is tried again next interval")
            return None
        if self.on_pass is not None:
            self.on_pass(done)
        if done.compacted or done.leftovers_dropped or done.failed:
            notes = [
                f"{count} {what}"
                for count, what in (
                    (len(done.vanished), "dropped meanwhile"),
                    (len(done.failed), "failed (tried again next pass)"),
                    (len(done.leftovers_dropped), "leftover index(es) of a REINDEX dropped"),
                )
                if count
            ]
            logger.info(
                "compacted %d day partition(s): %d -> %d bytes%s",
                len(done.compacted),
                done.bytes_before,
                done.bytes_after,
                "; " + ", ".join(notes) if notes else "",
                extra={"seconds": round(time.perf_counter() - started, 3)},
            )
        return done
