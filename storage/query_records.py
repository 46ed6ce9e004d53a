"""Plain records the read queries take and return. Times are Unix nanoseconds, ids hex text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AttributeOperator = Literal["eq", "exists", "gt", "gte", "lt", "lte"]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open interval [since_ns, until_ns); either end may be open."""

    since_ns: int | None = None
    until_ns: int | None = None


@dataclass(frozen=True, slots=True)
class RunKey:
    """The position of a run in its list's order: the keyset of a page. ``cost_key`` is set
    in the most-expensive-first order (the run's cost, -1 for a run without one) and in the
    most-relevant-first order of a text search (the run's score)."""

    start_ns: int
    id: str
    cost_key: float | None = None


@dataclass(frozen=True, slots=True)
class ScoreFilter:
    """Runs with a score named ``name`` (on the run or one of its steps); with bounds or a
    label, one such score must meet all of them. Bounds are inclusive."""

    name: str
    min: float | None = None
    max: float | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class RunFilters:
    """What ``list_runs`` selects; None means no condition."""

    window: TimeWindow = field(default_factory=TimeWindow)
    agent: str | None = None
    status: str | None = None
    trace_id: bytes | None = None
    session_id: str | None = None
    user_id: str | None = None
    tool: str | None = None
    min_duration_ms: float | None = None
    has_error: bool | None = None
    min_cost: float | None = None
    signature: str | None = None  # failure signature id
    score: ScoreFilter | None = None
    # Search (storage.search_queries): attribute conditions, all of which must hold, and the
    # words of a text query, in lower case (mapping.search_document.fold), all of which must
    # occur in the run's search document.
    attributes: tuple[AttributeFilter, ...] = ()
    words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttributeFilter:
    """One condition on a run's attributes: ``key`` exists, equals ``value`` (as text, and as
    a number or boolean where ``value`` reads as one), or compares with the number ``value``."""

    key: str
    operator: AttributeOperator
    value: str | float | None = None


@dataclass(slots=True)
class RunRow:
    id: str
    trace_id: str
    span_id: str
    parent_run_id: str | None
    name: str
    agent_name: str
    agent_id: str | None
    agent_version: str | None
    status: str
    input: str | None
    input_truncated: bool
    output: str | None
    output_truncated: bool
    error_type: str | None
    error_message: str | None
    start_ns: int
    end_ns: int | None
    duration_ms: float | None
    models: list[str]
    input_tokens: int
    output_tokens: int
    total_tokens: int
    step_count: int
    tool_call_count: int
    llm_call_count: int
    failed_step_count: int
    orphan_span_count: int
    session_id: str | None
    user_id: str | None
    service_name: str | None
    cost: float | None = None  # USD of the run's own priced LLM calls; None: none priced
    unpriced_calls: int = 0


@dataclass(slots=True)
class StepRow:
    id: str
    run_id: str
    span_id: str
    index: int
    kind: str
    name: str
    tool_name: str | None
    model: str | None
    status: str
    input: str | None
    input_truncated: bool
    output: str | None
    output_truncated: bool
    error_type: str | None
    error_message: str | None
    start_ns: int
    end_ns: int | None
    duration_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    parent_step_id: str | None
    child_run_id: str | None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: float | None = None
    cost_source: str | None = None  # reported, computed, unpriced; None: not an LLM call
    unpriced_reason: str | None = None
    price_version: str | None = None


@dataclass(slots=True)
class ArtifactRow:
    id: str
    step_id: str | None
    span_id: str
    type: str
    name: str | None
    content: str | None
    url: str | None
    time_ns: int | None
    truncated: bool


@dataclass(slots=True)
class MetricRow:
    name: str
    value: float
    tags: dict[str, object]


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """A derived trace's registry entry: its span count and the start times bounding its
    stored spans and its derived rows (which partitions hold them)."""

    span_count: int
    spans_from_ns: int
    spans_to_ns: int
    rows_from_ns: int
    rows_to_ns: int

    @property
    def spans_within(self) -> tuple[int, int]:
        return self.spans_from_ns, self.spans_to_ns


@dataclass(slots=True)
class RunDetailRows:
    """A run with everything the trace holds about it."""

    run: RunRow
    steps: list[StepRow]
    artifacts: list[ArtifactRow]
    metrics: list[MetricRow]
    child_runs: list[RunRow]
    price_versions: list[str] = field(default_factory=list)
    trace: TraceEntry | None = None

    @property
    def cost_with_sub_runs(self) -> float | None:
        """The run's cost with its sub-runs' (the deriver stores it when it differs)."""
        for metric in self.metrics:
            if metric.name == "cost_with_sub_runs":
                return metric.value
        return self.run.cost


@dataclass(slots=True)
class AgentRow:
    name: str
    agent_id: str | None
    version: str | None
    description: str | None
    first_seen_ns: int
    last_seen_ns: int
    run_count: int
    failure_count: int
    last_run_ns: int
    cost: float | None = None  # None: no run of the agent was priced
    unpriced_calls: int = 0


@dataclass(frozen=True, slots=True)
class Percentiles:
    avg: float | None
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(slots=True)
class ToolStatsRow:
    tool: str
    calls: int
    failures: int
    duration_ms: Percentiles


@dataclass(slots=True)
class FailingToolRow:
    tool: str
    calls: int
    failures: int


@dataclass(slots=True)
class ErrorCountRow:
    type: str | None
    message: str | None
    count: int


@dataclass(slots=True)
class ModelCostRow:
    model: str | None
    calls: int
    unpriced_calls: int
    cost: float | None  # None: no call of the model was priced
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int


@dataclass(slots=True)
class CostRows:
    cost: float | None  # USD of every priced LLM call; None: none was priced
    priced_runs: int
    llm_calls: int
    unpriced_calls: int
    by_model: list[ModelCostRow]


@dataclass(slots=True)
class SummaryRows:
    runs_by_status: dict[str, int]
    duration_ms: Percentiles
    steps_per_run: Percentiles
    input_tokens: int
    output_tokens: int
    total_tokens: int
    top_failing_tools: list[FailingToolRow]
    top_errors: list[ErrorCountRow]
    exact: bool = True  # False: from rollups, percentiles within 1%
    since_ns: int | None = None  # the window summed (rollups widen it to whole minutes)
    until_ns: int | None = None
    cost: CostRows = field(default_factory=lambda: CostRows(None, 0, 0, 0, []))


@dataclass(slots=True)
class BucketRow:
    start_ns: int
    runs: int
    failures: int
    successes: int
    finished: int
    avg_duration_ms: float | None
    p95_duration_ms: float | None
    cost: float | None = None  # None: no run of the bucket was priced
    unpriced_calls: int = 0


@dataclass(slots=True)
class RunPage:
    """One page of runs, and the key to continue after it (None on the last page)."""

    runs: list[RunRow]
    next_key: RunKey | None
