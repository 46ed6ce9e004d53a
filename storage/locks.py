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
