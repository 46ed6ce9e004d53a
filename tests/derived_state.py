"""A trace's derived rows, for comparison whatever trace id the spans were sent under."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

_QUERIES = {
    "runs": "SELECT * FROM runs WHERE trace_id = %s ORDER BY span_id",
    "steps": "SELECT * FROM steps WHERE trace_id = %s ORDER BY span_id",
}


def _normalise(value: Any, trace_hex: str) -> Any:
    if isinstance(value, str):
        return value.replace(trace_hex, "<trace>")
    if isinstance(value, bytes) and value == bytes.fromhex(trace_hex):
        return "<trace>"
    if isinstance(value, list):
        return [_normalise(item, trace_hex) for item in value]
    return value


def derived_state(database_url: str, trace_id: bytes) -> dict[str, list[dict[str, Any]]]:
    """Runs and steps of one trace (every column), with the trace id replaced by a marker."""
    trace_hex = trace_id.hex()
    state: dict[str, list[dict[str, Any]]] = {}
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        for table, query in _QUERIES.items():
            rows = conn.execute(query, (trace_id,)).fetchall()
            state[table] = [
                {key: _normalise(value, trace_hex) for key, value in row.items()} for row in rows
            ]
    return state
