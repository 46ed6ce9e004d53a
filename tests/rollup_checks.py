"""The rollups must equal what the derived rows add up to: recomputed here from the rows."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
import pytest

from storage import sketch

LEVELS = ((0, 60 * 10**9), (1, 3600 * 10**9), (2, 86_400 * 10**9))
_STATUS = {"PENDING": "pending", "RUNNING": "running", "SUCCESS": "succeeded",
           "FAILED": "failed", "CANCELLED": "cancelled"}  # fmt: skip


def _buckets(start_ns: int) -> list[tuple[int, int]]:
    return [(level, start_ns - start_ns % size) for level, size in LEVELS]


def expected_rollups(
    conn: psycopg.Connection[Any],
) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every rollup cell as the rows say it should be."""
    runs: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    tools: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    models: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    errors: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    agent_of: dict[tuple[bytes, bytes], str] = {}
    for (project, trace, span, start, status, agent, failed_steps, duration, steps, tin, tout,
         ttotal, signature) in conn.execute(
        "SELECT project_id, trace_id, span_id, start_ns, status, agent_name, failed_step_count,"
        " duration_ms, step_count, input_tokens, output_tokens, total_tokens, signature FROM runs"
    ):  # fmt: skip
        agent_of[(bytes(trace), bytes(span))] = agent
        for level, bucket in _buckets(start):
            cell = runs[(project, level, bucket, agent)]
            cell["runs"] += 1
            cell[_STATUS[status]] += 1
            cell["with_error"] += 1 if status == "FAILED" or failed_steps else 0
            if duration is not None:
                cell["durations"] += 1
                cell["duration_sum_ms"] += duration
                cell.setdefault("duration_values", []).append(duration)
            cell["steps"] += steps
            cell.setdefault("step_values", []).append(steps)
            cell["input_tokens"] += tin
            cell["output_tokens"] += tout
            cell["total_tokens"] += ttotal
            if status == "FAILED":
                errors[(project, level, bucket, agent, signature or "")]["failures"] += 1
    step_rows = conn.execute(
        "SELECT project_id, trace_id, run_span_id, run_start_ns, span_id, parent_span_id, kind,"
        " tool_name, model, status, duration_ms, input_tokens, output_tokens FROM steps"
    ).fetchall()
    kinds = {(bytes(r[1]), bytes(r[4])): (r[6], r[5]) for r in step_rows}
    for (project, trace, run_span, run_start, _span, parent, kind, tool, model, status, duration,
         tin, tout) in step_rows:  # fmt: skip
        agent = agent_of[(bytes(trace), bytes(run_span))]
        failed = 1 if status == "FAILED" else 0
        if kind == "tool":
            for level, bucket in _buckets(run_start):
                cell = tools[(project, level, bucket, agent, tool)]
                cell["calls"] += 1
                cell["failures"] += failed
                if duration is not None:
                    cell["durations"] += 1
                    cell["duration_sum_ms"] += duration
                    cell.setdefault("duration_values", []).append(duration)
        elif kind == "llm":
            nested, above = False, parent
            while above is not None and (bytes(trace), bytes(above)) in kinds:
                above_kind, above = kinds[(bytes(trace), bytes(above))]
                if above_kind == "llm":
                    nested = True
                    break
            if nested:
                continue
            for level, bucket in _buckets(run_start):
                cell = models[(project, level, bucket, agent, model or "")]
                cell["calls"] += 1
                cell["failures"] += failed
                cell["input_tokens"] += tin or 0
                cell["output_tokens"] += tout or 0
    return {"rollup_runs": runs, "rollup_tools": tools, "rollup_models": models,
            "rollup_errors": errors}  # fmt: skip


_COLUMNS = {
    "rollup_runs": ("runs", "pending", "running", "succeeded", "failed", "cancelled",
                    "with_error", "durations", "duration_sum_ms", "steps", "input_tokens",
                    "output_tokens", "total_tokens"),
    "rollup_tools": ("calls", "failures", "durations", "duration_sum_ms"),
    "rollup_models": ("calls", "failures", "input_tokens", "output_tokens"),
    "rollup_errors": ("failures",),
}  # fmt: skip
_KEYS = {
    "rollup_runs": ("project_id", "level", "bucket_ns", "agent_name"),
    "rollup_tools": ("project_id", "level", "bucket_ns", "agent_name", "tool_name"),
    "rollup_models": ("project_id", "level", "bucket_ns", "agent_name", "model"),
    "rollup_errors": ("project_id", "level", "bucket_ns", "agent_name", "signature"),
}
_HISTS = {"rollup_runs": ("duration", "step"), "rollup_tools": ("duration",)}


def assert_rollups_match_rows(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        expected = expected_rollups(conn)
        for table, columns in _COLUMNS.items():
            hists = _HISTS.get(table, ())
            hist_columns = [f"{h}_{part}" for h in hists for part in ("keys", "counts")]
            rows = conn.execute(
                f"SELECT {', '.join([*_KEYS[table], *columns, *hist_columns])} FROM {table}"
            ).fetchall()
            found = {}
            for row in rows:
                key = tuple(row[: len(_KEYS[table])])
                values = dict(
                    zip(
                        columns,
                        row[len(_KEYS[table]) : len(_KEYS[table]) + len(columns)],
                        strict=True,
                    )
                )
                tail = row[len(_KEYS[table]) + len(columns) :]
                for i, name in enumerate(hists):
                    values[f"{name}_hist"] = dict(zip(tail[2 * i], tail[2 * i + 1], strict=True))
                found[key] = values
            want = {}
            for key, cell in expected[table].items():
                values = {c: cell.get(c, 0) for c in columns}
                for name in hists:
                    values[f"{name}_hist"] = sketch.histogram(cell.get(f"{name}_values", []))
                want[key] = values
            assert set(found) == set(want), f"{table}: buckets differ"
            for key, values in want.items():
                for column, value in values.items():
                    if column == "duration_sum_ms":
                        assert found[key][column] == pytest.approx(value), (table, key, column)
                    else:
                        assert found[key][column] == value, (table, key, column)
