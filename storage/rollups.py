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
MINUTE_NS = LEVEL_NS[0]

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

_RUN_AT = {name: i for i, name in enumerate(RUN_SUMS)}
_STATUS_AT = {
    "PENDING": _RUN_AT["pending"],
    "RUNNING": _RUN_AT["running"],
    "SUCCESS": _RUN_AT["succeeded"],
    "FAILED": _RUN_AT["failed"],
    "CANCELLED": _RUN_AT["cancelled"],
}
_RUN_TOKEN_COLUMNS = (
    "input_tokens", "output_tokens", "total_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "unpriced_calls",
)  # fmt: skip
_MODEL_TOKEN_COLUMNS = (
    "input_tokens", "output_tokens", "total_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens",
)  # fmt: skip

Key = tuple[Any, ...]


@dataclass(slots=True)
class Cell:
    """The sums (in the order of the table's columns) and histograms of one bucket key."""

    sums: list[float]
    hists: dict[str, dict[int, int]] = field(default_factory=dict)
    sample: tuple[Any, ...] | None = None  # error rollups: (error_type, error_message)

    def add(self, values: list[float], sign: int) -> None:
        sums = self.sums
        for i, value in enumerate(values):
            if value:
                sums[i] += sign * value

    def add_hist(self, name: str, bucket: int, sign: int) -> None:
        hist = self.hists.get(name)
        if hist is None:
            hist = self.hists[name] = {}
        count = hist.get(bucket, 0) + sign
        if count:
            hist[bucket] = count
        else:
            del hist[bucket]

    def is_zero(self) -> bool:
        return not any(self.sums) and not any(self.hists.values())

    def sum_of(self, names: tuple[str, ...], name: str) -> float:
        return self.sums[names.index(name)]


def _cell(cells: dict[Key, Cell], key: Key, width: int) -> Cell:
    cell = cells.get(key)
    if cell is None:
        cell = cells[key] = Cell([0.0] * width)
    return cell


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
        width = len(RUN_SUMS)
        for row in rows.runs.values():
            status = row[r["status"]]
            agent = row[r["agent_name"]]
            duration = row[r["duration_ms"]]
            cost = row[r["cost"]]
            values = [0.0] * width
            values[_RUN_AT["runs"]] = 1
            values[_STATUS_AT.get(status, _RUN_AT["running"])] = 1
            if status == "FAILED" or row[r["failed_step_count"]]:
                values[_RUN_AT["with_error"]] = 1
            if duration is not None:
                values[_RUN_AT["durations"]] = 1
                values[_RUN_AT["duration_sum_ms"]] = duration
            values[_RUN_AT["steps"]] = row[r["step_count"]]
            for column in _RUN_TOKEN_COLUMNS:
                values[_RUN_AT[column]] = row[r[column]]
            if cost is not None:
                values[_RUN_AT["cost"]] = cost
                values[_RUN_AT["priced_runs"]] = 1
            duration_bucket = None if duration is None else sketch.bucket_of(duration)
            step_bucket = sketch.bucket_of(row[r["step_count"]])
            start = row[r["start_ns"]]
            bucket = start - start % MINUTE_NS
            cell = _cell(self.runs, (project_id, 0, bucket, agent), width)
            cell.add(values, sign)
            if duration_bucket is not None:
                cell.add_hist("duration", duration_bucket, sign)
            cell.add_hist("step", step_bucket, sign)
            if status == "FAILED":
                signature = row[r["signature"]] or ""
                error = _cell(self.errors, (project_id, 0, bucket, agent, signature), 1)
                error.sums[0] += sign
                if sign > 0:
                    error.sample = (row[r["error_type"]], row[r["error_message"]])
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
                values = [1, failed, 0, 0.0]
                bucket_index = None
                if duration is not None:
                    values[2], values[3] = 1, duration
                    bucket_index = sketch.bucket_of(duration)
                key = (project_id, 0, start - start % MINUTE_NS, agent, row[s["tool_name"]])
                cell = _cell(self.tools, key, len(TOOL_SUMS))
                cell.add(values, sign)
                if bucket_index is not None:
                    cell.add_hist("duration", bucket_index, sign)
            elif kind == "llm" and row[s["span_id"]] in counted_llm:
                cost = row[s["cost"]]
                values = [1, failed]
                values += [row[s[column]] or 0 for column in _MODEL_TOKEN_COLUMNS]
                values.append(cost if cost is not None else 0.0)
                values.append(1 if cost is None and row[s["cost_source"]] == "unpriced" else 0)
                key = (project_id, 0, start - start % MINUTE_NS, agent, row[s["model"]] or "")
                _cell(self.models, key, len(MODEL_SUMS)).add(values, sign)

    def nonzero(self) -> Contributions:
        """The minute deltas with their hour and day sums, only the keys whose delta is not
        zero. Rows add to minutes only; coarser levels are summed here, once per batch."""
        return Contributions(
            runs=_with_coarser_levels(self.runs),
            tools=_with_coarser_levels(self.tools),
            models=_with_coarser_levels(self.models),
            errors=_with_coarser_levels(self.errors),
        )

    def __bool__(self) -> bool:
        return bool(self.runs or self.tools or self.models or self.errors)


def _with_coarser_levels(minutes: dict[Key, Cell]) -> dict[Key, Cell]:
    cells: dict[Key, Cell] = {}
    for key, cell in minutes.items():
        if cell.is_zero():
            continue
        cells[key] = cell
        project_id, _, bucket, *rest = key
        for level, size in LEVELS[1:]:
            coarse_key = (project_id, level, bucket - bucket % size, *rest)
            coarse = _cell(cells, coarse_key, len(cell.sums))
            coarse.add(cell.sums, 1)
            for name, hist in cell.hists.items():
                for hist_bucket, count in hist.items():
                    coarse.add_hist(name, hist_bucket, count)
            coarse.sample = coarse.sample or cell.sample
    return {key: cell for key, cell in cells.items() if not cell.is_zero()}


def _counted_llm_steps(rows: TraceRows) -> set[bytes]:
    """LLM steps not nested in another LLM step of their run: one call instrumented twice
    (a framework's span around the provider SDK's) counts once, like the run's own figures."""
    s = STEP_INDEX
    kind_at, parent_at = s["kind"], s["parent_span_id"]
    steps = rows.steps
    llm = {span_id for span_id, row in steps.items() if row[kind_at] == "llm"}
    counted = set()
    for span_id in llm:
        parent = steps[span_id][parent_at]
        seen = 0
        nested = False
        while parent is not None and parent in steps and seen < len(steps):
            if parent in llm:
                nested = True
                break
            parent = steps[parent][parent_at]
            seen += 1
        if not nested:
            counted.add(span_id)
    return counted


_KEY_TYPES = {
    "project_id": "int4",
    "level": "int2",
    "bucket_ns": "int8",
    "agent_name": "text",
    "tool_name": "text",
    "model": "text",
    "signature": "text",
}
_FLOAT_SUMS = frozenset(("duration_sum_ms", "cost"))


@dataclass(frozen=True, slots=True)
class _Table:
    """How one rollup table is written: a set-based upsert of every delta row of a batch (one
    statement rather than one per bucket), then a delete of the buckets that fell to zero."""

    name: str
    keys: tuple[str, ...]
    sums: tuple[str, ...]
    hists: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()  # kept from the first row that had them (error rollups)

    def upsert(self) -> str:
        # Every column is one array parameter; a row's sketch is a slice of one flat array
        # (the sketches differ in length, and PostgreSQL has no ragged arrays).
        inputs = [f"%b::{_KEY_TYPES[k]}[]" for k in self.keys]
        inputs += [f"%b::{'float8' if s in _FLOAT_SUMS else 'int8'}[]" for s in self.sums]
        inputs += ["%b::text[]" for _ in self.samples]
        names = [*self.keys, *self.sums, *self.samples]
        selected = [f"d.{name}" for name in names]
        for hist in self.hists:
            inputs += ["%b::int4[]", "%b::int4[]"]
            names += [f"{hist}_at", f"{hist}_len"]
            selected += [
                f"(%b::int2[])[d.{hist}_at + 1 : d.{hist}_at + d.{hist}_len]",
                f"(%b::int8[])[d.{hist}_at + 1 : d.{hist}_at + d.{hist}_len]",
            ]
        columns = [*self.keys, *self.sums, *self.samples]
        columns += [f"{h}_{part}" for h in self.hists for part in ("keys", "counts")]
        updates = [f"{c} = {self.name}.{c} + EXCLUDED.{c}" for c in self.sums]
        updates += [f"{c} = coalesce({self.name}.{c}, EXCLUDED.{c})" for c in self.samples]
        updates += [
            f"({h}_keys, {h}_counts) = (SELECT keys, counts FROM agentguide_hist_merge("
            f"{self.name}.{h}_keys, {self.name}.{h}_counts, EXCLUDED.{h}_keys, "
            f"EXCLUDED.{h}_counts))"
            for h in self.hists
        ]
        # In key order: concurrent derivers lock the buckets in the same order.
        return (
            f"INSERT INTO {self.name} ({', '.join(columns)}) "
            f"SELECT {', '.join(selected)} "
            f"FROM unnest({', '.join(inputs)}) WITH ORDINALITY AS d({', '.join(names)}, nth) "
            f"ORDER BY d.nth "
            f"ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {', '.join(updates)}"
        )

    def delete_empty(self) -> str:
        inputs = ", ".join(f"%b::{_KEY_TYPES[k]}[]" for k in self.keys)
        matches = " AND ".join(f"t.{k} = d.{k}" for k in self.keys)
        return (
            f"DELETE FROM {self.name} t USING unnest({inputs}) AS d({', '.join(self.keys)}) "
            f"WHERE t.{self.sums[0]} = 0 AND {matches}"
        )

    def upsert_params(self, cells: dict[Key, Cell], keys: list[Key]) -> list[Any]:
        params = self.key_params(keys)
        for i, name in enumerate(self.sums):
            if name in _FLOAT_SUMS:
                params.append([float(cells[key].sums[i]) for key in keys])
            else:
                params.append([int(cells[key].sums[i]) for key in keys])
        for i in range(len(self.samples)):
            params.append([(cells[key].sample or (None,) * len(self.samples))[i] for key in keys])
        flat: list[Any] = []
        for hist in self.hists:
            starts: list[int] = []
            lengths: list[int] = []
            bucket_keys: list[int] = []
            counts: list[int] = []
            for key in keys:
                hist_keys, hist_counts = sketch.as_arrays(cells[key].hists.get(hist, {}))
                starts.append(len(bucket_keys))
                lengths.append(len(hist_keys))
                bucket_keys += hist_keys
                counts += hist_counts
            params += [starts, lengths]
            flat += [bucket_keys, counts]
        return flat + params  # the sketches' flat arrays come first in the statement

    def key_params(self, keys: list[Key]) -> list[Any]:
        """One array per key column."""
        return [[key[i] for key in keys] for i in range(len(self.keys))]


_KEYS = ("project_id", "level", "bucket_ns", "agent_name")
_RUNS = _Table("rollup_runs", _KEYS, RUN_SUMS, ("duration", "step"))
_TOOLS = _Table("rollup_tools", (*_KEYS, "tool_name"), TOOL_SUMS, ("duration",))
_MODELS = _Table("rollup_models", (*_KEYS, "model"), MODEL_SUMS)
_ERRORS = _Table(
    "rollup_errors", (*_KEYS, "signature"), ("failures",), samples=("error_type", "error_message")
)
_STATEMENTS = {table.name: (table.upsert(), table.delete_empty()) for table in (
    _RUNS, _TOOLS, _MODELS, _ERRORS
)}  # fmt: skip


async def apply(conn: psycopg.AsyncConnection[Any], deltas: Contributions) -> None:
    """Add the deltas to the rollup tables: one statement per table, in key order (concurrent
    derivers lock rows in the same order, so they wait for each other but never deadlock);
    buckets whose count fell to zero are dropped, so rollups hold only data that exists."""
    for table, cells in (
        (_RUNS, deltas.runs),
        (_TOOLS, deltas.tools),
        (_MODELS, deltas.models),
        (_ERRORS, deltas.errors),
    ):
        if not cells:
            continue
        keys = sorted(cells)
        upsert, delete_empty = _STATEMENTS[table.name]
        await conn.execute(upsert, table.upsert_params(cells, keys))
        shrinking = [key for key in keys if cells[key].sums[0] < 0]
        if shrinking:
            await conn.execute(delete_empty, table.key_params(shrinking))


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
