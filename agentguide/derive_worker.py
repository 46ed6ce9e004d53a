"""Derive workers: processes of their own that map stored spans into runs and steps; the
first also keeps the day partitions, compacts the sealed ones (``agentguide.compaction_job``),
runs retention when it is on, and the triage jobs (alerts, the embedding worker:
``agentguide.triage_jobs``).

Started by ``agentguide serve`` (``--derive-workers N``), so that deriving and deleting never
hold up the event loop that answers exports. Each reads wake-ups from a pipe (one byte per
commit, coalesced) and stops when the pipe closes, which also happens when the server dies.
Worker i of N claims the traces of its shard first (so a trace arriving in many requests
keeps hitting the same worker's cache) and others' new or long-waiting traces when its
shard has none. Metrics go to files in ``metrics_dir`` (prometheus-client multiprocess
mode), which the server's /metrics reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from agentguide.compaction_job import (
    DEFAULT_COMPACT_AFTER_S,
    DEFAULT_COMPACTION_INTERVAL_S,
    CompactionJob,
)
from agentguide.logs import configure_logging
from agentguide.memory import (
    DERIVER_YOUNG_COLLECTION_THRESHOLD,
    SurvivorFreezer,
    tune_allocator,
    tune_garbage_collector,
)
from agentguide.retention_job import RetentionJob
from agentguide.triage_jobs import start_triage_jobs, triage_extensions
from agentguide.worker_metrics import WORKER_METRICS_DIR_ENV, WorkerMetrics
from mapping.pricing.catalogue import load_price_data
from mapping.version import MAPPING_VERSION
from storage.deriver import BatchResult, DeriveEngine, Deriver
from storage.partitions import ensure_partitions_locked
from storage.prices import PriceOverrideCache
from storage.retention import Retention
from storage.store import Store
from storage.trace_cache import DEFAULT_CACHE_BYTES, TraceCache

logger = logging.getLogger("agentguide.derive")

DATABASE_URL_ENV = "AGENTGUIDE_DERIVE_DATABASE_URL"
WAKE_FD_ENV = "AGENTGUIDE_DERIVE_WAKE_FD"


MAINTENANCE_INTERVAL_S = 600.0


@dataclass(frozen=True)
class WorkerOptions:
    log_level: str = "info"
    log_format: str = "auto"
    retention_days: float | None = None
    retention_interval_s: float = 600.0
    metrics_dir: Path | None = None
    shard: int = 0
    shards: int = 1
    compaction: bool = True
    compact_after_s: float = DEFAULT_COMPACT_AFTER_S
    compaction_interval_s: float = DEFAULT_COMPACTION_INTERVAL_S

    def arguments(self) -> list[str]:
        args = ["--log-level", self.log_level, "--log-format", self.log_format]
        args += ["--shard", str(self.shard), "--shards", str(self.shards)]
        if self.shard == 0:
            args += ["--compaction", "on" if self.compaction else "off"]
            args += ["--compact-after", repr(self.compact_after_s)]
            args += ["--compaction-interval", repr(self.compaction_interval_s)]
        if self.retention_days is not None and self.shard == 0:
            args += [
                "--retention-days",
                repr(self.retention_days),
                "--retention-interval",
                repr(self.retention_interval_s),
            ]
        return args


class DeriveWorker:
    """The server's handle on one derive worker process."""

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def __init__(self, database_url: str, options: WorkerOptions) -> None:
        self.database_url = database_url
        self.options = options
        self._process: subprocess.Popen[bytes] | None = None
        self._wake_fd: int | None = None

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        env = dict(os.environ)
        env[DATABASE_URL_ENV] = self.database_url
        env[WAKE_FD_ENV] = str(read_fd)
        env.pop(WORKER_METRICS_DIR_ENV, None)
        if self.options.metrics_dir is not None:
            env[WORKER_METRICS_DIR_ENV] = str(self.options.metrics_dir)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "agentguide.derive_worker", *self.options.arguments()],
            pass_fds=(read_fd,),
            env=env,
            start_new_session=True,  # a Ctrl-C reaches the server, which stops the worker
        )
        os.close(read_fd)
        self._wake_fd = write_fd
        logger.info("derive worker started (pid %d)", self._process.pid)

    def wake(self) -> None:
        if self._wake_fd is None:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._wake_fd, b"\x01")

    def restart_if_dead(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            logger.error(
                "derive worker exited with %s; starting a new one", self._process.returncode
            )
            self._close_pipe()
            self.start()

    def stop(self, timeout_s: float) -> None:
        """Close the pipe: the worker derives what is dirty, then exits."""
        self._close_pipe()
        if self._process is None:
            return
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("derive worker did not finish in %.0f s; stopping it", timeout_s)
            self._process.terminate()
            self._process.wait(10)

    def _close_pipe(self) -> None:
        if self._wake_fd is not None:
            os.close(self._wake_fd)
            self._wake_fd = None


class DeriveWorkers:
    """The server's handle on its N derive worker processes."""

    def __init__(self, database_url: str, options: WorkerOptions, count: int) -> None:
        self.workers = [
            DeriveWorker(database_url, replace(options, shard=i, shards=count))
            for i in range(max(1, count))
        ]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    def restart_if_dead(self) -> None:
        for worker in self.workers:
            worker.restart_if_dead()

    def stop(self, timeout_s: float) -> None:
        for worker in self.workers:
            worker._close_pipe()
        for worker in self.workers:
            worker.stop(timeout_s)


async def _maintain_partitions(pool: AsyncConnectionPool) -> None:
    """Keep the day partitions ahead of the data, once per interval; one process at a time."""
    while True:
        try:
            async with pool.connection() as conn:
                created = await ensure_partitions_locked(conn)
            if created:
                logger.info("created partitions: %s", ", ".join(created))
        except Exception as exc:
            logger.warning("partition maintenance failed; retried next interval: %s", exc)
        await asyncio.sleep(MAINTENANCE_INTERVAL_S)


QUEUE_GAUGE_INTERVAL_S = 5.0


async def _report_queue(store: Store, metrics: WorkerMetrics) -> None:
    """The queue's gauges (backlog, quarantine), every few seconds: the first worker's job."""
    while True:
        try:
            metrics.queue(await store.queue.status(MAPPING_VERSION))
        except Exception as exc:
            logger.debug("queue gauges not updated: %s", exc)
        await asyncio.sleep(QUEUE_GAUGE_INTERVAL_S)


async def _run(
    database_url: str,
    wake_fd: int,
    retention_days: float | None,
    retention_interval_s: float,
    shard: tuple[int, int],
    log: tuple[str, str] = ("info", "auto"),
    compaction: tuple[float, float] | None = None,
) -> None:
    """``compaction``: (seconds after a day's end, seconds between passes), None when off."""
    metrics = WorkerMetrics()
    keeper = shard[0] == 0
    # the keeper: partitions, alert evaluation and webhook delivery hold one connection each
    # (compaction opens one of its own for each pass)
    pool_size = 2 + (1 if retention_days else 0) + (3 if keeper else 0)
    store = await Store.open(database_url, max_size=pool_size)
    extensions, similar = await triage_extensions(store.pool, keeper=keeper)
    engine = DeriveEngine(
        store.pool,
        shard=shard,
        extensions=extensions,
        price_overrides=PriceOverrideCache(),
        # The workers share one memory budget for cached facts, however many there are.
        cache=TraceCache(max_bytes=DEFAULT_CACHE_BYTES // max(1, shard[1])),
    )
    freezer = SurvivorFreezer()

    def on_batch(result: BatchResult, seconds: float) -> None:
        metrics.derived(result, seconds)
        freezer.after_batch()

    deriver = Deriver(engine, on_batch=on_batch, on_pause=metrics.paused)
    load_price_data()
    tune_garbage_collector(DERIVER_YOUNG_COLLECTION_THRESHOLD)
    retention = (
        RetentionJob(
            Retention(store.pool),
            retention_days,
            retention_interval_s,
            on_pass=metrics.retention_pass,
        )
        if retention_days and keeper
        else None
    )
    compaction_job = (
        CompactionJob(
            database_url,
            compaction[0],
            compaction[1],
            retention_days=retention_days,
            on_pass=metrics.compaction_pass,
        )
        if compaction is not None and keeper
        else None
    )
    loop = asyncio.get_running_loop()
    os.set_blocking(wake_fd, False)

    def on_wake() -> None:
        try:
            data = os.read(wake_fd, 4096)
        except BlockingIOError:
            return
        if data:
            deriver.wake()
        else:
            loop.remove_reader(wake_fd)
            deriver.stop()

    loop.add_reader(wake_fd, on_wake)
    background = []
    if retention is not None:
        background.append(loop.create_task(retention.run()))
    if keeper:
        background.append(loop.create_task(_maintain_partitions(store.pool)))
        background.append(loop.create_task(_report_queue(store, metrics)))
        if compaction_job is not None:
            background.append(loop.create_task(compaction_job.run()))
        background += start_triage_jobs(
            store.pool, database_url, similar=similar, log_level=log[0], log_format=log[1]
        )
    try:
        await deriver.run()
    finally:
        for task in background:
            # a retention batch cut short rolls back whole; a REINDEX CONCURRENTLY cut short
            # leaves an invalid index, which the next compaction pass drops
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await store.close()


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="agentguide-derive-worker")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", default="auto")
    parser.add_argument("--retention-days", type=float, default=None)
    parser.add_argument("--retention-interval", type=float, default=600.0)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--compaction", choices=["on", "off"], default="off")
    parser.add_argument("--compact-after", type=float, default=DEFAULT_COMPACT_AFTER_S)
    parser.add_argument("--compaction-interval", type=float, default=DEFAULT_COMPACTION_INTERVAL_S)
    args = parser.parse_args()
    configure_logging(args.log_level, args.log_format)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_allocator()
    database_url = os.environ.pop(DATABASE_URL_ENV)
    wake_fd = int(os.environ.pop(WAKE_FD_ENV))
    asyncio.run(
        _run(
            database_url,
            wake_fd,
            args.retention_days,
            args.retention_interval,
            (args.shard, args.shards),
            (args.log_level, args.log_format),
            (args.compact_after, args.compaction_interval) if args.compaction == "on" else None,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
