"""Per-trace advisory locks: the deriver, the REST API's edits and retention take them, so
work on one trace is serialized across every process on the database."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

_LOCK_TRACES = """
SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest(%s::int8[]) AS k ORDER BY k) AS keys
"""


def trace_lock_key(project_id: int, trace_id: bytes) -> int:
    """A signed 64-bit advisory lock key for one trace of one project."""
    key = int.from_bytes(trace_id[:8], "big") ^ (project_id * 0x9E3779B97F4A7C15)
    key &= 0xFFFFFFFFFFFFFFFF
    return key - (1 << 64) if key >= 1 << 63 else key


async def lock_traces(
    conn: psycopg.AsyncConnection[Any], traces: Iterable[tuple[int, bytes]]
) -> None:
    """Take the transaction-scoped locks of these (project, trace) pairs, in key order."""
    keys = sorted({trace_lock_key(project_id, trace_id) for project_id, trace_id in traces})
    if keys:
        await conn.execute(_LOCK_TRACES, (keys,))


_TRY_LOCK_TRACES = """
SELECT k FROM (SELECT k FROM unnest(%s::int8[]) AS k ORDER BY k) AS keys
WHERE pg_try_advisory_xact_lock(k)
"""


async def try_lock_traces(
    conn: psycopg.AsyncConnection[Any], traces: Iterable[tuple[int, bytes]]
) -> set[tuple[int, bytes]]:
    """Take, without waiting, the transaction-scoped locks of these (project, trace) pairs;
    the pairs whose lock was taken (the others are held by another transaction)."""
    by_key = {
        trace_lock_key(project_id, trace_id): (project_id, trace_id)
        for project_id, trace_id in traces
    }
    if not by_key:
        return set()
    cursor = await conn.execute(_TRY_LOCK_TRACES, (sorted(by_key),))
    return {by_key[int(row[0])] for row in await cursor.fetchall()}


# Partitions change (a day attached with rows moved in from a default partition, days dropped)
# under this lock taken exclusively; derivation batches take it shared, so a batch never runs
# while rows change partitions (it could read a moved row in neither place).
_PARTITION_CHANGES = 0x6167_6C61_796F  # "aglayo"


async def hold_partitions_steady(conn: psycopg.AsyncConnection[Any]) -> None:
    """Within the caller's transaction: no partition changes until it ends."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_PARTITION_CHANGES,))


async def lock_partition_changes(conn: psycopg.AsyncConnection[Any]) -> None:
    """Within the caller's transaction: wait for derivation batches, then hold them off."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_CHANGES,))
