"""The rows a derived trace is stored as, and how two versions of them differ.

Rows are plain tuples in the column order of their table (the order binary COPY writes), so
the rows of a new derivation compare directly with the stored ones: only rows that changed
are written. Payloads are previews: the whole value stays in the raw span, and a run's or
step's detail is derived again from it when shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mapping.model import DerivedTrace, Metric, Run, Step
from mapping.trace_costs import TraceCosts

RUN_PREVIEW_CHARS = 1024
STEP_PREVIEW_CHARS = 128

# The columns of each derived table with their types, in row order.
RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "bytea"), ("project_id", "int4"), ("span_id", "bytea"), ("start_ns", "int8"),
    ("end_ns", "int8"), ("duration_ms", "float8"), ("parent_span_id", "bytea"),
    ("name", "text"), ("agent_name", "text"), ("agent_id", "text"), ("agent_version", "text"),
    ("status", "text"), ("input", "text"), ("input_truncated", "bool"), ("output", "text"),
    ("output_truncated", "bool"), ("error_type", "text"), ("error_message", "text"),
    ("models", "text[]"), ("input_tokens", "int8"), ("output_tokens", "int8"),
    ("total_tokens", "int8"), ("cache_read_tokens", "int8"), ("cache_write_tokens", "int8"),
    ("reasoning_tokens", "int8"), ("cost", "float8"), ("unpriced_calls", "int4"),
    ("step_count", "int4"), ("tool_call_count", "int4"), ("llm_call_count", "int4"),
    ("failed_step_count", "int4"), ("orphan_span_count", "int4"), ("session_id", "text"),
    ("user_id", "text"), ("service_name", "text"), ("handoff_from_agent", "text"),
    ("signature", "text"), ("truncated_fields", "text[]"), ("extra", "jsonb"),
    ("mapping_version", "int4"),
)  # fmt: skip
STEP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "bytea"), ("project_id", "int4"), ("run_start_ns", "int8"),
    ("span_id", "bytea"), ("run_span_id", "bytea"), ("step_index", "int4"), ("kind", "text"),
    ("name", "text"), ("tool_name", "text"), ("model", "text"), ("agent_name", "text"),
    ("status", "text"), ("input", "text"), ("input_truncated", "bool"), ("output", "text"),
    ("output_truncated", "bool"), ("error_type", "text"), ("error_message", "text"),
    ("start_ns", "int8"), ("end_ns", "int8"), ("duration_ms", "float8"),
    ("input_tokens", "int8"), ("output_tokens", "int8"), ("total_tokens", "int8"),
    ("cache_read_tokens", "int8"), ("cache_write_tokens", "int8"), ("reasoning_tokens", "int8"),
    ("cost", "float8"), ("cost_source", "text"), ("parent_span_id", "bytea"),
    ("child_run_span_id", "bytea"), ("truncated_fields", "text[]"),
    # cost (migration 0006)
    ("unpriced_reason", "text"), ("price_version", "text"),
)  # fmt: skip

RUN_INDEX = {name: i for i, (name, _) in enumerate(RUN_COLUMNS)}
STEP_INDEX = {name: i for i, (name, _) in enumerate(STEP_COLUMNS)}

# Run metrics that are columns of the run row; the others are kept in ``extra``.
_COLUMN_METRICS = frozenset(
    {
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "step_count",
        "tool_call_count",
        "llm_call_count",
        "failed_step_count",
    }
)


def clean_text(value: str | None) -> str | None:
    """Text PostgreSQL can store: NUL becomes U+FFFD (mapping already cleans; this is the
    last line of defence, so one odd value never stops a trace)."""
    if value is None or "\x00" not in value:
        return value
    return value.replace("\x00", "\ufffd")


def _preview(value: str | None, truncated: bool, limit: int) -> tuple[str | None, bool]:
    if value is None:
        return None, truncated
    if len(value) > limit:
        return clean_text(value[:limit]), True
    return clean_text(value), truncated


def _duration_ms(start_ns: int, end_ns: int | None) -> float | None:
    return None if end_ns is None else (end_ns - start_ns) / 1e6


def _span_bytes(hex_id: str | None) -> bytes | None:
    return None if hex_id is None else bytes.fromhex(hex_id)


def _truncated_fields(obj: Run | Step) -> list[str] | None:
    return sorted(obj.truncated_fields) if obj.truncated_fields else None


def _money(value: Any) -> float | None:
    return None if value is None else float(value)


def _extra(extra: dict[str, Any], metrics: list[list[Any]]) -> dict[str, Any] | None:
    if metrics:
        extra["metrics"] = metrics
    return extra or None


def run_row(
    trace_id: bytes,
    project_id: int,
    run: Run,
    metrics: list[Metric],
    mapping_version: int,
    signature: str | None,
    costs: TraceCosts | None = None,
) -> tuple[Any, ...]:
    input_text, input_truncated = _preview(run.input, run.input_truncated, RUN_PREVIEW_CHARS)
    output_text, output_truncated = _preview(run.output, run.output_truncated, RUN_PREVIEW_CHARS)
    # The first metrics are the run's duration and counts (columns of the row); the rest
    # (tool failures, usage attributes) are kept in ``extra``, in order.
    fixed = len(_COLUMN_METRICS) if run.end_ns is not None else len(_COLUMN_METRICS) - 1
    extra_metrics = [[m.name, m.value, m.tags] for m in metrics[fixed:]]
    parent = run.parent_run_id[32:] if run.parent_run_id else None
    own = costs.runs.get(run.id) if costs else None
    details = (
        run.cache_read_input_tokens,
        run.cache_write_input_tokens,
        run.reasoning_output_tokens,
    )
    extra: dict[str, Any] = {}
    if run.input_source or run.output_source:
        # Where the run's input and output came from (a span id and key): a detail view of a
        # trace too big to derive again maps just those spans.
        extra["sources"] = {"input": run.input_source, "output": run.output_source}
    if costs is not None:
        total = costs.with_children.get(run.id)
        if total is not None and total.cost is not None and total != own:
            extra_metrics.append(["cost_with_sub_runs", float(total.cost), {}])
    price_versions = costs.run_price_versions.get(run.id) if costs else None
    if price_versions:
        extra["price_versions"] = list(price_versions)
    return (
        trace_id, project_id, bytes.fromhex(run.span_id), run.start_ns, run.end_ns,
        _duration_ms(run.start_ns, run.end_ns), _span_bytes(parent), clean_text(run.name),
        clean_text(run.agent_name), clean_text(run.agent_id), clean_text(run.agent_version),
        run.status, input_text, input_truncated, output_text, output_truncated,
        clean_text(run.error_type), clean_text(run.error_message),
        [clean_text(m) for m in run.models], run.input_tokens, run.output_tokens,
        run.total_tokens, details[0], details[1], details[2],
        _money(own.cost) if own else None, own.unpriced_calls if own else 0,
        run.step_count, run.tool_call_count,
        run.llm_call_count, run.failed_step_count, run.orphan_span_count,
        clean_text(run.session_id), clean_text(run.user_id), clean_text(run.service_name),
        clean_text(run.handoff_from_agent), signature, _truncated_fields(run),
        _extra(extra, extra_metrics), mapping_version,
    )  # fmt: skip


def step_row(
    trace_id: bytes,
    project_id: int,
    run_start_ns: int,
    step: Step,
    costs: TraceCosts | None = None,
) -> tuple[Any, ...]:
    input_text, input_truncated = _preview(step.input, step.input_truncated, STEP_PREVIEW_CHARS)
    output_text, output_truncated = _preview(step.output, step.output_truncated, STEP_PREVIEW_CHARS)
    child = step.child_run_id[32:] if step.child_run_id else None
    parent = step.parent_step_id[32:] if step.parent_step_id else None
    priced = costs.steps.get(step.id) if costs else None
    return (
        trace_id, project_id, run_start_ns, bytes.fromhex(step.span_id),
        bytes.fromhex(step.run_id[32:]), step.index, step.kind, clean_text(step.name),
        clean_text(step.tool_name), clean_text(step.model),
        clean_text(step.agent_name), step.status, input_text, input_truncated,
        output_text, output_truncated, clean_text(step.error_type),
        clean_text(step.error_message), step.start_ns, step.end_ns,
        _duration_ms(step.start_ns, step.end_ns), step.input_tokens, step.output_tokens,
        step.total_tokens, step.cache_read_input_tokens, step.cache_write_input_tokens,
        step.reasoning_output_tokens,
        _money(priced.cost) if priced else None, priced.cost_source if priced else None,
        _span_bytes(parent), _span_bytes(child),
        _truncated_fields(step),
        priced.unpriced_reason if priced else None, priced.price_version if priced else None,
    )  # fmt: skip


@dataclass(slots=True)
class TraceRows:
    """The derived rows of one trace, by span id."""

    runs: dict[bytes, tuple[Any, ...]] = field(default_factory=dict)
    steps: dict[bytes, tuple[Any, ...]] = field(default_factory=dict)

    def span_range(self) -> tuple[int, int] | None:
        """The smallest and largest partition key of the rows (runs' start times)."""
        starts = [row[RUN_INDEX["start_ns"]] for row in self.runs.values()]
        starts += [row[STEP_INDEX["run_start_ns"]] for row in self.steps.values()]
        return (min(starts), max(starts)) if starts else None

    def size_estimate(self) -> int:
        """Bytes these rows hold, roughly (for cache accounting)."""
        return (
            600 * len(self.runs)
            + 300 * len(self.steps)
            + sum(
                len(row[12] or "") + len(row[14] or "")
                for rows in (self.runs.values(), self.steps.values())
                for row in rows
            )
        )


def trace_rows(
    trace_id: bytes,
    project_id: int,
    derived: DerivedTrace,
    mapping_version: int,
    signatures: Mapping[str, str] | None = None,
    costs: TraceCosts | None = None,
) -> TraceRows:
    """The rows of a derived trace. ``signatures`` gives failed runs' signatures by run id;
    ``costs`` the priced LLM steps and runs."""
    metrics_by_run: dict[str, list[Metric]] = {}
    for metric in derived.metrics:
        metrics_by_run.setdefault(metric.run_id, []).append(metric)
    rows = TraceRows()
    run_start: dict[str, int] = {}
    for run in derived.runs:
        signature = (signatures or {}).get(run.id)
        row = run_row(
            trace_id,
            project_id,
            run,
            metrics_by_run.get(run.id, []),
            mapping_version,
            signature,
            costs,
        )
        rows.runs[row[2]] = row
        run_start[run.id] = run.start_ns
    for step in derived.steps:
        row = step_row(trace_id, project_id, run_start[step.run_id], step, costs)
        rows.steps[row[3]] = row
    return rows


@dataclass(slots=True)
class RowChanges:
    """What to delete and insert to turn stored rows into new ones."""

    deleted: list[tuple[Any, ...]] = field(default_factory=list)  # the old rows
    inserted: list[tuple[Any, ...]] = field(default_factory=list)  # the new rows

    def __bool__(self) -> bool:
        return bool(self.deleted or self.inserted)


def diff_rows(
    old: Mapping[bytes, tuple[Any, ...]], new: Mapping[bytes, tuple[Any, ...]]
) -> RowChanges:
    """Rows to delete (gone or changed) and to insert (new or changed)."""
    changes = RowChanges()
    for key, row in old.items():
        if new.get(key) != row:
            changes.deleted.append(row)
    for key, row in new.items():
        if old.get(key) != row:
            changes.inserted.append(row)
    return changes


def iter_step_agents(rows: TraceRows) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Each step row with the agent name of its run."""
    agent_at = RUN_INDEX["agent_name"]
    run_span_at = STEP_INDEX["run_span_id"]
    agents = {span_id: row[agent_at] for span_id, row in rows.runs.items()}
    for row in rows.steps.values():
        yield row, agents.get(row[run_span_at], "")


def normalise_stored(
    rows: Iterable[tuple[Any, ...]], columns: tuple[tuple[str, str], ...]
) -> list[tuple[Any, ...]]:
    """Rows read back from PostgreSQL in the form this module builds them (bytes, lists)."""
    kinds = [kind for _, kind in columns]
    normalised = []
    for row in rows:
        normalised.append(
            tuple(
                bytes(value)
                if kind == "bytea" and value is not None
                else (list(value) if kind == "text[]" and value is not None else value)
                for value, kind in zip(row, kinds, strict=True)
            )
        )
    return normalised
