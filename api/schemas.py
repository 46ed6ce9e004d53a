"""The JSON answers of the query API, as Pydantic models: /openapi.json documents every field."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.failure_schemas import RunFailure

Timestamp = Annotated[
    str,
    Field(
        description="RFC 3339 in UTC, with nanosecond precision where the span had it",
        json_schema_extra={"format": "date-time"},
    ),
]
RunStatusName = Literal["PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"]
StepStatusName = Literal["RUNNING", "SUCCESS", "FAILED"]
CostSourceName = Literal["reported", "computed", "unpriced"]
UnpricedReasonName = Literal["unknown model", "unknown provider", "no token counts"]


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable: not_found, invalid_parameter, conflict, ...")
    message: str = Field(description="what is wrong, for a person")
    parameters: list[str] | None = Field(
        default=None, description="for invalid_parameter: the parameters at fault"
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail


class AgentRef(BaseModel):
    id: str | None = Field(description="gen_ai.agent.id where the agent span gives one")
    name: str
    version: str | None


class ErrorInfo(BaseModel):
    type: str | None = Field(description="exception type or error.type")
    message: str | None


class Run(BaseModel):
    """One agent invocation."""

    id: str = Field(description="48 hex characters: the trace id, then the agent span's id")
    trace_id: str
    span_id: str
    name: str = Field(description="the agent span's name")
    agent: AgentRef
    parent_run_id: str | None = Field(description="the run that invoked this one (nested agents)")
    status: RunStatusName
    input: str | None
    input_truncated: bool = Field(description="input was cut for display; the raw span has all")
    output: str | None
    output_truncated: bool
    error: ErrorInfo | None
    started_at: Timestamp
    finished_at: Timestamp | None = Field(description="null while the run is not finished")
    duration_ms: float | None
    step_count: int
    tool_call_count: int
    llm_call_count: int
    failed_step_count: int
    orphan_span_count: int = Field(description="spans of the run whose parent has not arrived")
    input_tokens: int
    output_tokens: int
    total_tokens: int
    models: list[str]
    session_id: str | None
    user_id: str | None
    service_name: str | None
    cost: float | None = Field(
        description="USD: the sum of the run's own priced LLM calls (not its sub-runs'); null "
        "when none was priced (no LLM call, or every call unpriced), never 0 for unknown"
    )
    unpriced_llm_calls: int = Field(
        description="the run's own LLM calls that could not be priced (unknown model or "
        "provider, no token counts): when > 0, cost is a lower bound"
    )


class RunList(BaseModel):
    items: list[Run]
    next_cursor: str | None = Field(
        description="pass as cursor to get the next page; null on the last page"
    )


class Artifact(BaseModel):
    id: str
    type: str = Field(description="exception, message, choice, document, event, ...")
    name: str | None
    content: str | None
    url: str | None
    time: Timestamp | None
    truncated: bool
    span_id: str


class Step(BaseModel):
    """One tool call, LLM call, retrieval, sub-agent, ... of a run."""

    id: str = Field(description="48 hex characters: the trace id, then the step span's id")
    run_id: str
    index: int = Field(description="0-based position in the run, by start time")
    kind: str = Field(
        description="tool, llm, agent, embedding, retriever, reranker, guardrail, evaluator, "
        "planning, memory or task"
    )
    name: str
    tool_name: str | None
    status: StepStatusName
    input: str | None
    input_truncated: bool
    output: str | None
    output_truncated: bool
    error: ErrorInfo | None
    started_at: Timestamp
    finished_at: Timestamp | None
    duration_ms: float | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cache_read_tokens: int | None = Field(
        description="LLM calls: input tokens read from a prompt cache (part of input_tokens)"
    )
    cache_write_tokens: int | None = Field(
        description="LLM calls: input tokens written to a prompt cache (part of input_tokens)"
    )
    reasoning_tokens: int | None = Field(
        description="LLM calls: reasoning tokens (part of output_tokens)"
    )
    cost: float | None = Field(
        description="USD, for LLM calls; null when unpriced (and for other steps)"
    )
    cost_source: CostSourceName | None = Field(
        description="LLM calls: reported (the span carried its cost, which wins), computed "
        "(from its tokens at the price in force at its start), or unpriced; null for other "
        "steps"
    )
    unpriced_reason: UnpricedReasonName | None = Field(
        description="why an unpriced LLM call has no cost"
    )
    price_version: str | None = Field(
        description="the price data that computed the cost: 'genai-prices <version>' or "
        "'override <id>' (see /v1/admin/prices)"
    )
    span_id: str
    parent_step_id: str | None = Field(description="the step this one is nested in")
    child_run_id: str | None = Field(description="for an agent step: the run it invoked")
    artifacts: list[Artifact]


class Metric(BaseModel):
    name: str
    value: float
    tags: dict[str, Any]


class Score(BaseModel):
    """A judgement on a run or on one of its steps."""

    id: int = Field(description="the score's id, unique in its project")
    run_id: str
    step_id: str | None = Field(description="the step judged; null when the run itself is")
    step_index: int | None = Field(description="the judged step's index in the run")
    span_id: str = Field(description="the span of the run or step judged")
    name: str
    value: float | None
    label: str | None
    explanation: str | None
    error_type: str | None = Field(
        description="set when the evaluation itself failed (from an evaluation event)"
    )
    source: Literal["api", "event"] = Field(
        description="api: posted to /v1/runs/{run_id}/scores; event: a gen_ai.evaluation.result "
        "event of the trace"
    )
    observed_at: Timestamp = Field(description="when the judgement was made")


class RunDetail(Run):
    """A run with its steps in order, its metrics, artifacts and the runs it invoked."""

    steps: list[Step] = Field(
        description="the steps in index order, at most the first 1000: when step_count is "
        "larger, GET /v1/runs/{run_id}/steps?offset=1000 pages through the rest"
    )
    metrics: list[Metric]
    artifacts: list[Artifact] = Field(description="artifacts of the run's own spans")
    child_runs: list[Run]
    cost_with_sub_runs: float | None = Field(
        description="USD: cost plus the priced LLM calls of the runs it invoked, at any depth; "
        "null when none was priced"
    )
    price_versions: list[str] = Field(
        description="the price data that priced the run's own LLM calls, e.g. "
        "['genai-prices 0.2.3', 'override 4']"
    )
    failure: RunFailure | None = Field(
        default=None,
        description="for a failed run: its failure signature and how many other runs failed so",
    )
    scores: list[Score] = Field(
        default_factory=list,
        description="judgements on the run and its steps, oldest first (at most 1000: "
        "GET /v1/runs/{run_id}/scores pages through all)",
    )


class Agent(BaseModel):
    id: str | None
    name: str
    version: str | None
    description: str | None
    run_count: int
    failure_count: int
    last_run_at: Timestamp
    first_seen_at: Timestamp
    last_seen_at: Timestamp
    cost: float | None = Field(
        description="USD: the priced LLM calls of all its runs; null when none was priced"
    )
    unpriced_llm_calls: int = Field(description="LLM calls of its runs that could not be priced")


class AgentList(BaseModel):
    items: list[Agent]


class Distribution(BaseModel):
    """Percentiles; null when there is no value. From the rollups they are within 1% of a
    value of the data at that rank; with exact=true, exact (percentile_cont)."""

    avg: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class ToolStats(BaseModel):
    tool: str
    calls: int
    failures: int
    failure_rate: float = Field(description="failures / calls")
    duration_ms: Distribution


class ToolList(BaseModel):
    items: list[ToolStats]
    exact: bool = Field(
        description="true: percentiles computed from every call (exact=true); false: from the "
        "rollups, within 1%"
    )


class StatusCounts(BaseModel):
    PENDING: int
    RUNNING: int
    SUCCESS: int
    FAILED: int
    CANCELLED: int


class RunCounts(BaseModel):
    total: int
    by_status: StatusCounts


class TokenTotals(BaseModel):
    input: int
    output: int
    total: int


class FailingTool(BaseModel):
    tool: str
    calls: int
    failures: int
    failure_rate: float


class ErrorCount(BaseModel):
    type: str | None
    message: str | None
    count: int


class ModelCost(BaseModel):
    model: str | None = Field(description="null: LLM calls that named no model")
    calls: int = Field(description="LLM calls (one call instrumented twice counts once)")
    unpriced_calls: int
    cost: float | None = Field(description="USD of the priced calls; null when none was priced")
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int


class CostSummary(BaseModel):
    total: float | None = Field(
        description="USD of every priced LLM call of the runs; null when none was priced. "
        "A lower bound when unpriced_llm_calls > 0"
    )
    priced_runs: int = Field(description="runs with at least one priced LLM call")
    llm_calls: int
    unpriced_llm_calls: int = Field(
        description="LLM calls without a cost (unknown model or provider, no token counts)"
    )
    unpriced_share: float | None = Field(
        description="unpriced_llm_calls / llm_calls; null when there is no LLM call"
    )
    by_model: list[ModelCost] = Field(
        description="the 10 models that cost most, then those without a cost"
    )


class ScoreAggregate(BaseModel):
    """The scores of one name, of the runs in the window."""

    name: str
    count: int = Field(description="scores of this name (with a value, a label or neither)")
    value_count: int = Field(description="of which with a finite value")
    mean: float | None = Field(description="of the finite values; null when there is none")
    min: float | None
    max: float | None
    error_count: int = Field(description="evaluations that failed (error_type set)")
    labels: dict[str, int] = Field(description="scores by label (the 20 most frequent labels)")


class BucketScore(BaseModel):
    count: int = Field(description="scores of this name in the bucket")
    mean: float | None = Field(description="mean of their finite values; null when there is none")


class Summary(BaseModel):
    since: Timestamp | None = Field(
        description="start of the window summed: from the rollups, widened to whole minutes"
    )
    until: Timestamp | None
    exact: bool = Field(
        description="true: computed from every run (exact=true); false: from the rollups, "
        "counts and sums exact, percentiles within 1%"
    )
    agent: str | None
    runs: RunCounts
    success_rate: float | None = Field(
        description="SUCCESS / finished runs (SUCCESS, FAILED, CANCELLED); null when none"
    )
    duration_ms: Distribution = Field(description="of finished runs")
    steps_per_run: Distribution
    tokens: TokenTotals
    top_failing_tools: list[FailingTool]
    top_errors: list[ErrorCount] = Field(description="the errors of failed runs, most frequent")
    cost: CostSummary
    scores: list[ScoreAggregate] = Field(
        default_factory=list,
        description="per score name, the scores of the runs in the window (the 100 most "
        "frequent names), computed from the scores themselves",
    )


class Bucket(BaseModel):
    start: Timestamp
    runs: int
    failures: int
    success_rate: float | None = Field(description="null when no run of the bucket finished")
    avg_duration_ms: float | None
    p95_duration_ms: float | None
    cost: float | None = Field(
        description="USD of the priced LLM calls of the bucket's runs; null when none was priced"
    )
    unpriced_llm_calls: int
    scores: dict[str, BucketScore] = Field(
        default_factory=dict,
        description="by score name (the 20 most frequent in the whole range): the scores of "
        "the bucket's runs; names without a score in the bucket are left out",
    )


class Timeseries(BaseModel):
    bucket: Literal["1m", "5m", "1h", "1d"]
    since: Timestamp
    until: Timestamp
    agent: str | None
    buckets: list[Bucket]
