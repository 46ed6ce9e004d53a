"""Rollups: the dashboards' sums, kept by the deriver in step with the derived rows.

A trace contributes to rollup buckets (per level — minute, hour, day — bucket start and
key): its runs by agent, its tool calls by agent and tool, its LLM calls by agent and model,
its failed runs by agent and failure signature. Every contribution is bucketed by the start of
its run (a tool call by its run's start, not its own), the key the derived rows are
partitioned by, so dropping a day's partitions and its buckets keeps them equal. When a trace
is derived again, the contribution of its old rows is subtracted and that of its new rows
added, in the same transaction as the rows themselves, so a rollup always equals the sum over
the rows it covers, whatever the order, late data or re-derivation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from storage import sketch
from storage.derived_rows import RUN_INDEX, STEP_INDEX, TraceRows, iter_step_agents

LEVELS: tuple[tuple[int, int], ...] = (
    (0, 60 * 10**9),  # minute
    (1, 3600 * 10**9),  # hour
    (2, 86_400 * 10**9),  # day
)
LEVEL_NS = dict(LEVELS)

RUN_SUMS = (
    "runs", "pending", "running", "succeeded", "failed", "cancelled", "with_error",
    "durations", "duration_sum_ms", "steps", "input_tokens", "output_tokens", "total_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost", "priced_runs",
    "unpriced_calls",
)  # fmt: skip
TOOL_SUMS = ("calls", "failures", "durations", "duration_sum_ms")
MODEL_SUMS = (
    "calls", "failures", "input_tokens", "output_tokens", "total_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost", "unpriced_calls",
)  # fmt: skip

_STATUS_COLUMN = {
    "PENDING": "pending",
    "RUNNING": "running",
    "SUCCESS": "succeeded",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
}


@dataclass(slots=True)
class Cell:
    """The sums and histograms one bucket key receives."""

    sums: dict[str, float] = field(default_factory=dict)
    hists: dict[str, dict[int, int]] = field(default_factory=dict)
    sample: tuple[Any, ...] | None = None  # error rollups: (error_type, error_message)

    def add(self, name: str, value: float, sign: int) -> None:
        if value:
            self.sums[name] = self.sums.get(name, 0) + sign * value

    def add_hist(self, name: str, value: float, sign: int) -> None:
        sketch.add_into(self.hists.setdefault(name, {}), {sketch.bucket_of(value): 1}, sign)

    def is_zero(self) -> bool:
        return not any(self.sums.values()) and not any(self.hists.values())


Key = tuple[Any, ...]


@dataclass(slots=True)
class Contributions:
    """Rollup deltas by table and key (project, level, bucket, agent[, tool|model|signature])."""

    runs: dict[Key, Cell] = field(default_factory=dict)
    tools: dict[Key, Cell] = field(default_factory=dict)
    models: dict[Key, Cell] = field(default_factory=dict)
    errors: dict[Key, Cell] = field(default_factory=dict)

    def add_rows(self, project_id: int, rows: TraceRows, sign: int) -> None:
        """Add (sign 1) or subtract (sign -1) what these rows contribute."""
        r = RUN_INDEX
        for row in rows.runs.values():
            status = row[r["status"]]
            agent = row[r["agent_name"]]
            failed_steps = row[r["failed_step_count"]]
            duration = row[r["duration_ms"]]
            for level, size in LEVELS:
                start = row[r["start_ns"]]
                key = (project_id, level, start - start % size, agent)
                cell = self.runs.setdefault(key, Cell())
                cell.add("runs", 1, sign)
                cell.add(_STATUS_COLUMN.get(status, "running"), 1, sign)
                cell.add("with_error", 1 if status == "FAILED" or failed_steps else 0, sign)
                if duration is not None:
                    cell.add("durations", 1, sign)
                    cell.add("duration_sum_ms", duration, sign)
                    cell.add_hist("duration", duration, sign)
                cell.add("steps", row[r["step_count"]], sign)
                cell.add_hist("step", row[r["step_count"]], sign)
                for column in (
                    "input_tokens", "output_tokens", "total_tokens", "cache_read_tokens",
                    "cache_write_tokens", "reasoning_tokens", "unpriced_calls",
                ):  # fmt: skip
                    cell.add(column, row[r[column]], sign)
                cost = row[r["cost"]]
                if cost is not None:
                    cell.add("cost", cost, sign)
                    cell.add("priced_runs", 1, sign)
                signature = row[r["signature"]]
                if status == "FAILED":
                    error_key = (project_id, level, start - start % size, agent, signature or "")
                    error_cell = self.errors.setdefault(error_key, Cell())
                    error_cell.add("failures", 1, sign)
                    if sign > 0:
                        error_cell.sample = (row[r["error_type"]], row[r["error_message"]])
        self._add_steps(project_id, rows, sign)

    def _add_steps(self, project_id: int, rows: TraceRows, sign: int) -> None:
        s = STEP_INDEX
        counted_llm = _counted_llm_steps(rows)
        for row, agent in iter_step_agents(rows):
            kind = row[s["kind"]]
            start = row[s["run_start_ns"]]  # by run, like the partitions: retention stays exact
            failed = 1 if row[s["status"]] == "FAILED" else 0
            if kind == "tool":
                duration = row[s["duration_ms"]]
                for level, size in LEVELS:
                    key = (project_id, level, start - start % size, agent, row[s["tool_name"]])
                    cell = self.tools.setdefault(key, Cell())
                    cell.add("calls", 1, sign)
                    cell.add("failures", failed, sign)
                    if duration is not None:
                        cell.add("durations", 1, sign)
                        cell.add("duration_sum_ms", duration, sign)
                        cell.add_hist("duration", duration, sign)
            elif kind == "llm" and row[s["span_id"]] in counted_llm:
                model = row[s["model"]] or ""
                for level, size in LEVELS:
                    key = (project_id, level, start - start % size, agent, model)
                    cell = self.models.setdefault(key, Cell())
                    cell.add("calls", 1, sign)
                    cell.add("failures", failed, sign)
                    for column in (
                        "input_tokens", "output_tokens", "total_tokens", "cache_read_tokens",
                        "cache_write_tokens", "reasoning_tokens",
                    ):  # fmt: skip
                        cell.add(column, row[s[column]] or 0, sign)
                    cost = row[s["cost"]]
                    if cost is not None:
                        cell.add("cost", cost, sign)
                    elif row[s["cost_source"]] == "unpriced":
                        cell.add("unpriced_calls", 1, sign)

    def nonzero(self) -> Contributions:
        """Only the keys whose delta is not zero."""
        return Contributions(
            runs={k: c for k, c in self.runs.items() if not c.is_zero()},
            tools={k: c for k, c in self.tools.items() if not c.is_zero()},
            models={k: c for k, c in self.models.items() if not c.is_zero()},
            errors={k: c for k, c in self.errors.items() if not c.is_zero()},
        )

    def __bool__(self) -> bool:
        return bool(self.runs or self.tools or self.models or self.errors)


def _counted_llm_steps(rows: TraceRows) -> set[bytes]:
    """LLM steps not nested in another LLM step of their run: one call instrumented twice
    (a framework's span around the provider SDK's) counts once, like the run's own figures."""
    s = STEP_INDEX
    llm = {span_id for span_id, row in rows.steps.items() if row[s["kind"]] == "llm"}
    counted = set()
    for span_id in llm:
        parent = rows.steps[span_id][s["parent_span_id"]]
        seen = 0
        nested = False
        while parent is not None and parent in rows.steps and seen < len(rows.steps):
            if parent in llm:
                nested = True
                break
            parent = rows.steps[parent][s["parent_span_id"]]
            seen += 1
        if not nested:
            counted.add(span_id)
    return counted


def _sum_assignments(table: str, columns: Iterable[str]) -> str:
    return ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in columns)


def _hist_assignment(table: str, name: str) -> str:
    return (
        f"({name}_keys, {name}_counts) = (SELECT keys, counts FROM agentguide_hist_merge("
        f"{table}.{name}_keys, {table}.{name}_counts, EXCLUDED.{name}_keys, "
        f"EXCLUDED.{name}_counts))"
    )


def _upsert(
    table: str, key_columns: tuple[str, ...], sums: tuple[str, ...], hists: tuple[str, ...]
) -> str:
    hist_columns = [f"{h}_{part}" for h in hists for part in ("keys", "counts")]
    columns = [*key_columns, *sums, *hist_columns]
    placeholders = ", ".join(["%s"] * len(columns))
    updates = [_sum_assignments(table, sums)] + [_hist_assignment(table, h) for h in hists]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {', '.join(updates)}"
    )


_KEYS = ("project_id", "level", "bucket_ns", "agent_name")
_UPSERT_RUNS = _upsert("rollup_runs", _KEYS, RUN_SUMS, ("duration", "step"))
_UPSERT_TOOLS = _upsert("rollup_tools", (*_KEYS, "tool_name"), TOOL_SUMS, ("duration",))
_UPSERT_MODELS = _upsert("rollup_models", (*_KEYS, "model"), MODEL_SUMS, ())
_UPSERT_ERRORS = """
INSERT INTO rollup_errors (project_id, level, bucket_ns, agent_name, signature, failures,
                           error_type, error_message)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (project_id, level, bucket_ns, agent_name, signature) DO UPDATE SET
    failures = rollup_errors.failures + EXCLUDED.failures,
    error_type = coalesce(rollup_errors.error_type, EXCLUDED.error_type),
    error_message = coalesce(rollup_errors.error_message, EXCLUDED.error_message)
"""
# Buckets whose every count fell to zero are dropped, so rollups hold only data that exists.
_DELETE_EMPTY = {
    "rollup_runs": "DELETE FROM rollup_runs WHERE runs = 0 AND project_id = %s AND level = %s"
    " AND bucket_ns = %s AND agent_name = %s",
    "rollup_tools": "DELETE FROM rollup_tools WHERE calls = 0 AND project_id = %s AND level = %s"
    " AND bucket_ns = %s AND agent_name = %s AND tool_name = %s",
    "rollup_models": "DELETE FROM rollup_models WHERE calls = 0 AND project_id = %s"
    " AND level = %s AND bucket_ns = %s AND agent_name = %s AND model = %s",
    "rollup_errors": "DELETE FROM rollup_errors WHERE failures = 0 AND project_id = %s"
    " AND level = %s AND bucket_ns = %s AND agent_name = %s AND signature = %s",
}


def _row(key: Key, cell: Cell, sums: tuple[str, ...], hists: tuple[str, ...]) -> list[Any]:
    values: list[Any] = list(key)
    values += [_number(name, cell.sums.get(name, 0)) for name in sums]
    for name in hists:
        keys, counts = sketch.as_arrays(cell.hists.get(name, {}))
        values += [keys, counts]
    return values


def _number(name: str, value: float) -> float | int:
    return value if name in ("duration_sum_ms", "cost") else int(value)


async def apply(conn: psycopg.AsyncConnection[Any], deltas: Contributions) -> None:
    """Add the deltas to the rollup tables, in key order (concurrent derivers lock rows in the
    same order, so they wait for each other but never deadlock)."""
    plan: list[tuple[str, str, list[list[Any]], list[Key]]] = []
    if deltas.runs:
        keys = sorted(deltas.runs)
        rows = [_row(k, deltas.runs[k], RUN_SUMS, ("duration", "step")) for k in keys]
        plan.append(
            (
                "rollup_runs",
                _UPSERT_RUNS,
                rows,
                [k for k in keys if _decreases(deltas.runs[k], "runs")],
            )
        )
    if deltas.tools:
        keys = sorted(deltas.tools)
        rows = [_row(k, deltas.tools[k], TOOL_SUMS, ("duration",)) for k in keys]
        plan.append(
            (
                "rollup_tools",
                _UPSERT_TOOLS,
                rows,
                [k for k in keys if _decreases(deltas.tools[k], "calls")],
            )
        )
    if deltas.models:
        keys = sorted(deltas.models)
        rows = [_row(k, deltas.models[k], MODEL_SUMS, ()) for k in keys]
        plan.append(
            (
                "rollup_models",
                _UPSERT_MODELS,
                rows,
                [k for k in keys if _decreases(deltas.models[k], "calls")],
            )
        )
    if deltas.errors:
        keys = sorted(deltas.errors)
        rows = []
        for key in keys:
            cell = deltas.errors[key]
            sample = cell.sample or (None, None)
            rows.append([*key, int(cell.sums.get("failures", 0)), sample[0], sample[1]])
        plan.append(
            (
                "rollup_errors",
                _UPSERT_ERRORS,
                rows,
                [k for k in keys if _decreases(deltas.errors[k], "failures")],
            )
        )
    async with conn.cursor() as cursor:
        for table, statement, rows, shrinking in plan:
            await cursor.executemany(statement, rows)
            if shrinking:
                await cursor.executemany(_DELETE_EMPTY[table], [list(k) for k in shrinking])


def _decreases(cell: Cell, count: str) -> bool:
    return cell.sums.get(count, 0) < 0


def contributions_delta(
    project_id: int, old: TraceRows | None, new: TraceRows | None
) -> Contributions:
    """What re-deriving a trace from ``old`` rows to ``new`` rows changes in the rollups."""
    delta = Contributions()
    if old is not None:
        delta.add_rows(project_id, old, -1)
    if new is not None:
        delta.add_rows(project_id, new, 1)
    return delta.nonzero()


def merge_into(total: Contributions, part: Mapping[str, Any] | Contributions) -> None:
    """Fold the deltas of one trace into those of a batch."""
    assert isinstance(part, Contributions)
    for name in ("runs", "tools", "models", "errors"):
        target: dict[Key, Cell] = getattr(total, name)
        for key, cell in getattr(part, name).items():
            into = target.get(key)
            if into is None:
                target[key] = Cell(
                    dict(cell.sums), {h: dict(v) for h, v in cell.hists.items()}, cell.sample
                )
                continue
            for column, value in cell.sums.items():
                into.add(column, value, 1)
            for hist, counts in cell.hists.items():
                sketch.add_into(into.hists.setdefault(hist, {}), counts)
            into.sample = into.sample or cell.sample
