"""The embedding worker: a process of its own that embeds finished runs for "similar runs".

The deriver only queues runs (``storage.run_embeddings.EmbeddingQueue``, one row per finished
run whose derived row changed); when idle, this process also queues the finished runs of the
last ``BACKFILL_DAYS`` days that have no embedding of its model (every ``BACKFILL_EVERY_S``).
It takes the oldest queued runs a batch at a time,
builds each run's text (``agentguide.embeddings.run_text``) from its stored row and steps,
embeds the batch on one CPU thread, and writes the vectors in one transaction. It runs at a
lower CPU priority (nice 10) than ingest and derivation, so under load embeddings fall behind
while runs and steps do not; the queue keeps what is left.

The first derive worker starts it (``EmbedWorker``) when similar runs are on, and restarts it
if it dies. It stops when the pipe from its parent closes, which also happens when the parent
dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from agentguide.embeddings import MODEL_ID, Embedder, RunText
from agentguide.logs import configure_logging
from storage.run_embeddings import (
    QueuedRun,
    RunForEmbedding,
    forget_expired,
    next_queued,
    queue_missing,
    run_for_embedding,
    store_embeddings,
)

logger = logging.getLogger("agentguide.embed")

DATABASE_URL_ENV = "AGENTGUIDE_EMBED_DATABASE_URL"
PARENT_FD_ENV = "AGENTGUIDE_EMBED_PARENT_FD"
BATCH_RUNS = 32
POLL_S = 1.0
FORGET_EVERY_S = 600.0
BACKFILL_EVERY_S = 300.0  # when idle: queue recent finished runs that have no embedding
BACKFILL_DAYS = 30
BACKFILL_RUNS = 2000
REPORT_EVERY_S = 60.0
NICENESS = 10
MAX_RESTART_DELAY_S = 300.0


@dataclass(slots=True)
class _Throughput:
    runs: int = 0
    seconds: float = 0.0
    since: float = 0.0

    def add(self, runs: int, seconds: float) -> None:
        self.runs += runs
        self.seconds += seconds

    def report_if_due(self, now: float) -> None:
        if self.runs and now - self.since >= REPORT_EVERY_S:
            logger.info(
                "embedded %d runs in %.1f s of work (%.0f ms a run)",
                self.runs,
                self.seconds,
                1000 * self.seconds / self.runs,
            )
            self.runs, self.seconds, self.since = 0, 0.0, now


def run_text_fields(run: RunForEmbedding) -> RunText:
    return RunText(
        agent_name=run.agent_name,
        status=run.status,
        input=run.input,
        error_type=run.error_type,
        error_message=run.error_message,
        steps=run.steps,
    )


def embed_batch(conn: psycopg.Connection[object], embedder: Embedder, batch: int) -> int:
    """Embed the oldest ``batch`` queued runs; how many queue rows were done (0: none)."""
    queued = next_queued(conn, batch)
    if not queued:
        return 0
    runs: list[RunForEmbedding] = []
    gone: list[QueuedRun] = []
    for key in queued:
        run = run_for_embedding(conn, key)
        if run is None:
            gone.append(key)
        else:
            runs.append(run)
    vectors: Sequence[Sequence[float]] = (
        embedder.embed_runs([run_text_fields(run) for run in runs]) if runs else []
    )
    store_embeddings(conn, MODEL_ID, list(zip(runs, vectors, strict=True)), gone)
    return len(queued)


def _parent_gone(parent_fd: int, wait_s: float) -> bool:
    """Wait up to ``wait_s`` for the parent's pipe; True when it has closed."""
    readable, _, _ = select.select([parent_fd], [], [], wait_s)
    if not readable:
        return False
    try:
        return os.read(parent_fd, 4096) == b""
    except BlockingIOError:
        return False


def serve(database_url: str, parent_fd: int, batch: int = BATCH_RUNS) -> None:
    started = time.perf_counter()
    embedder = Embedder(threads=1)
    logger.info("embedding model loaded in %.1f s (%s)", time.perf_counter() - started, MODEL_ID)
    throughput = _Throughput(since=time.monotonic())
    last_forget = 0.0
    last_backfill = 0.0
    conn: psycopg.Connection[object] | None = None
    while True:
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(database_url, autocommit=True)
            now = time.monotonic()
            if now - last_forget >= FORGET_EVERY_S:
                forgotten = forget_expired(conn)
                if forgotten:
                    logger.info("dropped %d embeddings of runs no longer stored", forgotten)
                last_forget = now
            work_started = time.perf_counter()
            done = embed_batch(conn, embedder, batch)
            if done:
                throughput.add(done, time.perf_counter() - work_started)
            elif now - last_backfill >= BACKFILL_EVERY_S:
                since_ns = time.time_ns() - BACKFILL_DAYS * 86_400 * 10**9
                queued = queue_missing(conn, MODEL_ID, since_ns, BACKFILL_RUNS)
                if queued:
                    logger.info("queued %d finished runs that had no embedding", queued)
                    done = queued  # go on at once
                last_backfill = now
            throughput.report_if_due(time.monotonic())
        except psycopg.OperationalError as exc:
            logger.warning("embedding paused, the database is unavailable: %s", exc)
            done = 0
            if conn is not None:
                conn.close()
            conn = None
        except Exception:
            logger.exception("an embedding batch failed; its runs stay queued")
            done = 0
        if _parent_gone(parent_fd, 0 if done else POLL_S):
            break
    if conn is not None:
        conn.close()


class EmbedWorker:
    """The first derive worker's handle on the embedding process."""

    def __init__(self, database_url: str, log_level: str, log_format: str) -> None:
        self.database_url = database_url
        self.log_level = log_level
        self.log_format = log_format
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None
        self._started_at = 0.0
        self._delay_s = 0.5
        self._restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ)
        env[DATABASE_URL_ENV] = self.database_url
        env[PARENT_FD_ENV] = str(read_fd)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentguide.embed_worker",
                "--log-level",
                self.log_level,
                "--log-format",
                self.log_format,
            ],
            pass_fds=(read_fd,),
            env=env,
            start_new_session=True,
        )
        os.close(read_fd)
        self._pipe = write_fd
        self._started_at = time.monotonic()
        logger.info("embedding worker started (pid %d)", self._process.pid)

    def restart_if_dead(self) -> None:
        """Start a new process when this one has exited; one that keeps dying right after
        starting is started again after a growing delay (at most ``MAX_RESTART_DELAY_S``)."""
        if self._process is None or self._process.poll() is None:
            return
        now = time.monotonic()
        if self._restart_at is None:
            lived = now - self._started_at
            self._delay_s = (
                1.0
                if lived > MAX_RESTART_DELAY_S
                else min(MAX_RESTART_DELAY_S, max(1.0, self._delay_s * 2))
            )
            self._restart_at = now + self._delay_s
            logger.error(
                "embedding worker exited with %s; starting a new one in %.0f s",
                self._process.returncode,
                self._delay_s,
            )
        if now >= self._restart_at:
            self._restart_at = None
            self._close_pipe()
            self.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._close_pipe()
        if self._process is None:
            return
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(5)

    def _close_pipe(self) -> None:
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="agentguide-embed-worker")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", default="auto")
    parser.add_argument("--batch", type=int, default=BATCH_RUNS)
    args = parser.parse_args()
    configure_logging(args.log_level, args.log_format)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    database_url = os.environ.pop(DATABASE_URL_ENV)
    parent_fd = int(os.environ.pop(PARENT_FD_ENV))
    serve(database_url, parent_fd, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
