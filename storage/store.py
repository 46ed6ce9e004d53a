"""The store: one PostgreSQL connection pool and the narrow interfaces built on it.

Receiver and API talk to the pieces they need — the span writer (ingest), the span reader
(raw traces), the derive queue (status, re-derivation) — which another store could implement
(``storage.span_writer.SpanWriter``, ``storage.span_reader.SpanReader``,
``storage.derive_queue.DeriveQueue``, ``storage.derived_writer.DerivedRowWriter``). The
deriver (``storage.deriver``) runs in its own processes over its own pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.derive_queue import PostgresDeriveQueue
from storage.errors import StorageUnavailable
from storage.locks import trace_lock_key
from storage.log_reader import PostgresLogReader
from storage.log_writer import PostgresLogWriter
from storage.records import LogBatch, SpanBatch, StoredSpan
from storage.span_reader import PostgresSpanReader
from storage.span_writer import PostgresSpanWriter

__all__ = ["DEFAULT_PROJECT_ID", "Store", "trace_lock_key"]

DEFAULT_PROJECT_ID = 1

_STILL_DIRTY = """
SELECT count(*) FROM dirty_traces WHERE project_id = %s AND trace_id = ANY(%s)
"""


class Store:
    """The pool and the interfaces over it that the server process uses."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.spans = PostgresSpanWriter(pool)
        self.reader = PostgresSpanReader(pool)
        self.queue = PostgresDeriveQueue(pool)
        self.logs = PostgresLogWriter(pool, self.spans.after_commit)
        self.log_reader = PostgresLogReader(pool)

    @classmethod
    async def open(
        cls, database_url: str, *, min_size: int = 1, max_size: int = 8, timeout_s: float = 5.0
    ) -> Store:
        pool = AsyncConnectionPool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            open=False,
            # Autocommit: a single statement is its own transaction (one round trip); work of
            # several statements opens an explicit transaction.
            kwargs={"connect_timeout": max(1, int(timeout_s)), "autocommit": True},
            name="agentguide",
            # psycopg_pool doubles its reconnect delay for as long as this lasts; a short
            # attempt makes the next request start again from a 1 s delay after an outage.
            reconnect_timeout=10.0,
        )
        await pool.open(wait=False)
        return cls(pool)

    @property
    def after_commit(self) -> list[Callable[[], None]]:
        """Called after each committed span or log write (the server wakes its derivers)."""
        return self.spans.after_commit

    async def close(self) -> None:
        await self.pool.close()

    async def ping(self, timeout_s: float = 2.0) -> None:
        """Raise StorageUnavailable unless the database answers within ``timeout_s``: a health
        probe answers quickly, whatever the pool's own wait for a connection."""
        try:
            async with self.pool.connection(timeout=timeout_s) as conn:
                await conn.execute("SELECT 1")
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def write_spans(self, project_id: int, batch: SpanBatch) -> None:
        await self.spans.write_spans(project_id, batch)

    async def write_logs(self, project_id: int, batch: LogBatch) -> None:
        await self.logs.write_logs(project_id, batch)

    async def get_trace(self, project_id: int, trace_id: bytes) -> list[StoredSpan]:
        return await self.reader.get_trace(project_id, trace_id)

    async def wait_derived(
        self, project_id: int, trace_ids: Sequence[bytes], timeout_s: float = 30.0
    ) -> bool:
        """Wait (without holding the event loop) until the derivers have derived these traces
        as they are now; False on timeout. A trace being derived keeps its dirty mark until
        the deriver commits, so no mark left means its rows are visible."""
        wanted = sorted(set(trace_ids))
        if not wanted:
            return True
        deadline = time.monotonic() + timeout_s
        delay = 0.01
        while True:
            try:
                async with self.pool.connection() as conn:
                    cursor = await conn.execute(_STILL_DIRTY, (project_id, wanted))
                    row = await cursor.fetchone()
            except (psycopg.OperationalError, PoolTimeout) as exc:
                raise StorageUnavailable(str(exc)) from exc
            if row is not None and row[0] == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(0.1, delay * 2)
