"""The deriver's queue: dirty traces to claim, the quarantine of traces that failed, and the
backlog of re-derivations.

Ingest inserts a dirty mark per trace and request (``storage.span_writer``); a deriver claims
marks in its transaction (``FOR UPDATE SKIP LOCKED``), so a claim rolls back with a failed
derivation and the trace stays dirty. Re-derivations are marks flagged ``background``: they
are claimed only after the live ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool

from storage.errors import StorageUnavailable
from storage.locks import try_lock_traces

# Backoff of a quarantined trace: 10 s, doubling per failed attempt, at most an hour.
QUARANTINE_FIRST_RETRY_S = 10.0
QUARANTINE_MAX_RETRY_S = 3600.0
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class ClaimedTrace:
    project_id: int
    trace_id: bytes
    from_ns: int  # the start times of the spans written since it was last derived
    to_ns: int
    background: bool
    spans: int = 0  # spans written since (counting re-deliveries)
    marked_at: float = 0.0  # Unix seconds of its oldest mark


@dataclass(frozen=True, slots=True)
class QuarantinedTrace:
    project_id: int
    trace_id: bytes
    error: str
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime
    attempts: int
    retry_at: dt.datetime


@dataclass(frozen=True, slots=True)
class QueueStatus:
    dirty_traces: int
    background_traces: int
    oldest_dirty_age_s: float | None
    quarantined_traces: int
    stale_mapping_traces: int


class DeriveQueue(Protocol):
    """What the deriver needs of a queue; PostgreSQL's is ``PostgresDeriveQueue``."""

    async def claim(
        self, conn: psycopg.AsyncConnection[Any], max_traces: int, shard: tuple[int, int] | None
    ) -> list[ClaimedTrace]: ...

    async def quarantine(
        self,
        conn: psycopg.AsyncConnection[Any],
        failures: Sequence[tuple[ClaimedTrace, str]],
    ) -> None: ...

    async def unclaim(
        self, conn: psycopg.AsyncConnection[Any], claims: Sequence[ClaimedTrace]
    ) -> None: ...

    async def release(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, trace_ids: Sequence[bytes]
    ) -> None: ...


def _claim_sql(where: str) -> str:
    return f"""
DELETE FROM dirty_traces d
USING (
    SELECT ctid FROM dirty_traces {where}
    ORDER BY background, marked_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) claimed
WHERE d.ctid = claimed.ctid
RETURNING d.project_id, d.trace_id, d.from_ns, d.to_ns, d.background, d.spans,
          extract(epoch FROM d.marked_at)::float8
"""


_CLAIM_ANY = _claim_sql("")
_CLAIM_SHARD = _claim_sql("WHERE get_byte(trace_id, 15) %% %(shards)s = %(shard)s")
# Another shard's traces that no worker has cached (never derived), or that have waited long:
# a worker helps with a burst of new traces, but leaves a trace arriving in many requests to
# the worker that has its spans cached.
_CLAIM_OTHERS = _claim_sql(
    "d WHERE NOT EXISTS (SELECT 1 FROM traces t"
    " WHERE t.trace_id = d.trace_id AND t.project_id = d.project_id)"
    " OR d.marked_at < clock_timestamp() - %(waited_s)s * interval '1 second'"
)
STEAL_AFTER_S = 10.0

# A trace may be marked by several requests: the rest of its marks go with the first claimed
# (marks a concurrent claim holds stay with it; that deriver derives the trace after us).
_CLAIM_SIBLINGS = """
DELETE FROM dirty_traces d
WHERE d.ctid IN (
    SELECT m.ctid FROM dirty_traces m
    JOIN unnest(%s::int4[], %s::bytea[]) AS c(project_id, trace_id)
      ON m.trace_id = c.trace_id AND m.project_id = c.project_id
    FOR UPDATE OF m SKIP LOCKED
)
RETURNING d.project_id, d.trace_id, d.from_ns, d.to_ns, d.background, d.spans,
          extract(epoch FROM d.marked_at)::float8
"""

# Claimed traces over the batch's budget go back, as they were.
_UNCLAIM = """
INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns, spans, background, marked_at)
SELECT t, p, f, l, n, b, to_timestamp(m)
FROM unnest(%s::bytea[], %s::int4[], %s::int8[], %s::int8[], %s::int4[], %s::bool[],
            %s::float8[]) AS x(t, p, f, l, n, b, m)
"""

_QUARANTINE = """
INSERT INTO derive_quarantine AS q (trace_id, project_id, error, retry_at, from_ns, to_ns)
SELECT t, p, e, now() + make_interval(secs => %s), f, l
FROM unnest(%s::bytea[], %s::int4[], %s::text[], %s::int8[], %s::int8[]) AS x(t, p, e, f, l)
ON CONFLICT (trace_id, project_id) DO UPDATE SET
    error = EXCLUDED.error,
    last_failed_at = now(),
    attempts = q.attempts + 1,
    retry_at = now() + make_interval(secs => least(%s, %s * power(2, q.attempts))),
    from_ns = least(q.from_ns, EXCLUDED.from_ns),
    to_ns = greatest(q.to_ns, EXCLUDED.to_ns)
"""

# The span times a quarantined trace was marked with: its marks were used up by the derivation
# that failed, so a later one must still read those spans.
_QUARANTINE_RANGES = """
SELECT trace_id, from_ns, to_ns FROM derive_quarantine
WHERE project_id = %s AND trace_id = ANY(%s)
"""

_RELEASE = """
DELETE FROM derive_quarantine q USING unnest(%s::bytea[]) AS t(trace_id)
WHERE q.project_id = %s AND q.trace_id = t.trace_id
"""

# Quarantined traces whose backoff is over go back to the queue (their quarantine row stays
# until a derivation succeeds, so attempts keep counting).
_REQUEUE_DUE = """
WITH due AS (
    UPDATE derive_quarantine SET retry_at = now() + make_interval(secs => %s)
    WHERE ctid IN (SELECT ctid FROM derive_quarantine WHERE retry_at <= now() LIMIT %s
                   FOR UPDATE SKIP LOCKED)
    RETURNING trace_id, project_id, from_ns, to_ns
)
INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns)
SELECT trace_id, project_id, from_ns, to_ns FROM due
"""

_LIST_QUARANTINE = """
SELECT project_id, trace_id, error, first_failed_at, last_failed_at, attempts, retry_at
FROM derive_quarantine
WHERE (%s::int4 IS NULL OR project_id = %s)
ORDER BY last_failed_at DESC
LIMIT %s
"""

_STATUS = """
SELECT
    (SELECT count(DISTINCT (trace_id, project_id)) FROM dirty_traces
     WHERE NOT background AND (%(project)s::int4 IS NULL OR project_id = %(project)s)),
    (SELECT count(DISTINCT (trace_id, project_id)) FROM dirty_traces
     WHERE background AND (%(project)s::int4 IS NULL OR project_id = %(project)s)),
    (SELECT extract(epoch FROM now() - min(marked_at))::float8 FROM dirty_traces
     WHERE NOT background AND (%(project)s::int4 IS NULL OR project_id = %(project)s)),
    (SELECT count(*) FROM derive_quarantine
     WHERE %(project)s::int4 IS NULL OR project_id = %(project)s),
    (SELECT count(*) FROM traces WHERE mapping_version <> %(version)s
     AND (%(project)s::int4 IS NULL OR project_id = %(project)s))
"""

# Re-derivation: every stored trace of the selection, as background marks.
_ENQUEUE_REDERIVE = """
INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns, spans, background)
SELECT trace_id, project_id, spans_from_ns, spans_to_ns, span_count, true
FROM traces
WHERE (%(project_id)s::int4 IS NULL OR project_id = %(project_id)s)
  AND (%(since_ns)s::int8 IS NULL OR spans_to_ns >= %(since_ns)s)
  AND (%(only_stale)s IS FALSE OR mapping_version <> %(mapping_version)s)
"""


def _claims(rows: Sequence[tuple[Any, ...]]) -> dict[tuple[int, bytes], ClaimedTrace]:
    merged: dict[tuple[int, bytes], ClaimedTrace] = {}
    for project_id, trace_id, from_ns, to_ns, background, spans, marked_at in rows:
        key = (project_id, bytes(trace_id))
        seen = merged.get(key)
        if seen is None:
            merged[key] = ClaimedTrace(
                project_id, key[1], from_ns, to_ns, background, spans, marked_at
            )
        else:
            merged[key] = ClaimedTrace(
                project_id,
                key[1],
                min(seen.from_ns, from_ns),
                max(seen.to_ns, to_ns),
                seen.background and background,
                seen.spans + spans,
                min(seen.marked_at, marked_at),
            )
    return merged


class PostgresDeriveQueue:
    """The derive queue in PostgreSQL tables (dirty_traces, derive_quarantine, traces)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def claim(
        self, conn: psycopg.AsyncConnection[Any], max_traces: int, shard: tuple[int, int] | None
    ) -> list[ClaimedTrace]:
        """Claim up to ``max_traces`` dirty traces within the caller's transaction: those of
        ``shard`` (index, count) first; when the shard has none, others' that were never
        derived or have waited ``STEAL_AFTER_S``."""
        if shard is not None and shard[1] > 1:
            cursor = await conn.execute(
                _CLAIM_SHARD, {"limit": max_traces, "shard": shard[0], "shards": shard[1]}
            )
            rows = await cursor.fetchall()
            if not rows:
                cursor = await conn.execute(
                    _CLAIM_OTHERS, {"limit": max_traces, "waited_s": STEAL_AFTER_S}
                )
                rows = await cursor.fetchall()
                if rows:
                    return await self._unless_busy(conn, rows)
        else:
            cursor = await conn.execute(_CLAIM_ANY, {"limit": max_traces})
            rows = await cursor.fetchall()
        return await self._with_siblings(conn, rows)

    async def _unless_busy(
        self, conn: psycopg.AsyncConnection[Any], rows: list[tuple[Any, ...]]
    ) -> list[ClaimedTrace]:
        """Claims of other shards' traces, except those another deriver is deriving now
        (their lock is taken): those go back to the queue rather than waiting for the lock and
        deriving the trace again, from spans this deriver has not cached."""
        claims = await self._with_siblings(conn, rows)
        free = await try_lock_traces(conn, [(c.project_id, c.trace_id) for c in claims])
        await self.unclaim(conn, [c for c in claims if (c.project_id, c.trace_id) not in free])
        return [c for c in claims if (c.project_id, c.trace_id) in free]

    async def _with_siblings(
        self, conn: psycopg.AsyncConnection[Any], rows: list[tuple[Any, ...]]
    ) -> list[ClaimedTrace]:
        """The claims of these rows, with the other marks of their traces claimed too."""
        if not rows:
            return []
        claimed = _claims(rows)
        keys = sorted(claimed)
        cursor = await conn.execute(_CLAIM_SIBLINGS, ([p for p, _ in keys], [t for _, t in keys]))
        siblings = await cursor.fetchall()
        if siblings:
            claimed = _claims([*rows, *siblings])
        return [claimed[key] for key in sorted(claimed)]

    async def unclaim(
        self, conn: psycopg.AsyncConnection[Any], claims: Sequence[ClaimedTrace]
    ) -> None:
        """Give claimed traces back to the queue, within the caller's transaction."""
        if not claims:
            return
        await conn.execute(
            _UNCLAIM,
            (
                [c.trace_id for c in claims],
                [c.project_id for c in claims],
                [c.from_ns for c in claims],
                [c.to_ns for c in claims],
                [c.spans for c in claims],
                [c.background for c in claims],
                [c.marked_at for c in claims],
            ),
        )

    async def quarantine(
        self,
        conn: psycopg.AsyncConnection[Any],
        failures: Sequence[tuple[ClaimedTrace, str]],
    ) -> None:
        if not failures:
            return
        await conn.execute(
            _QUARANTINE,
            (
                QUARANTINE_FIRST_RETRY_S,
                [claim.trace_id for claim, _ in failures],
                [claim.project_id for claim, _ in failures],
                [error[:MAX_ERROR_CHARS].replace("\x00", "\ufffd") for _, error in failures],
                [claim.from_ns for claim, _ in failures],
                [claim.to_ns for claim, _ in failures],
                QUARANTINE_MAX_RETRY_S,
                QUARANTINE_FIRST_RETRY_S,
            ),
        )

    async def with_quarantine_ranges(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, claims: list[ClaimedTrace]
    ) -> list[ClaimedTrace]:
        """The claims, each widened to the span times it was quarantined with, if it was."""
        cursor = await conn.execute(
            _QUARANTINE_RANGES, (project_id, [c.trace_id for c in claims]), binary=True
        )
        ranges = {bytes(t): (low, high) for t, low, high in await cursor.fetchall()}
        if not ranges:
            return claims
        widened = []
        for claim in claims:
            found = ranges.get(claim.trace_id)
            if found is not None:
                claim = replace(
                    claim, from_ns=min(claim.from_ns, found[0]), to_ns=max(claim.to_ns, found[1])
                )
            widened.append(claim)
        return widened

    async def release(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, trace_ids: Sequence[bytes]
    ) -> None:
        """Take derived traces out of the quarantine."""
        if trace_ids:
            await conn.execute(_RELEASE, (list(trace_ids), project_id))

    async def requeue_due(self, limit: int = 100) -> int:
        """Put quarantined traces whose backoff is over back in the queue; how many."""
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(_REQUEUE_DUE, (QUARANTINE_MAX_RETRY_S, limit))
                return cursor.rowcount
        except psycopg.OperationalError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def quarantined(
        self, project_id: int | None = None, limit: int = 100
    ) -> list[QuarantinedTrace]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_LIST_QUARANTINE, (project_id, project_id, limit))
            return [
                QuarantinedTrace(p, bytes(t), e, first, last, attempts, retry)
                for p, t, e, first, last, attempts, retry in await cursor.fetchall()
            ]

    async def status(self, mapping_version: int, project_id: int | None = None) -> QueueStatus:
        """How far the derivers are behind, of one project or all."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                _STATUS, {"project": project_id, "version": mapping_version}
            )
            row = await cursor.fetchone()
        assert row is not None
        dirty, background, age, quarantined, stale = row
        return QueueStatus(
            dirty_traces=dirty,
            background_traces=background,
            oldest_dirty_age_s=None if age is None else float(age),
            quarantined_traces=quarantined,
            stale_mapping_traces=stale,
        )

    async def enqueue_rederive(
        self,
        *,
        mapping_version: int,
        project_id: int | None = None,
        since_ns: int | None = None,
        only_stale: bool = False,
    ) -> int:
        """Queue stored traces for re-derivation in the background; how many were queued."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                _ENQUEUE_REDERIVE,
                {
                    "project_id": project_id,
                    "since_ns": since_ns,
                    "only_stale": only_stale,
                    "mapping_version": mapping_version,
                },
            )
            return cursor.rowcount
