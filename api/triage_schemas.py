"""The JSON answers of the triage routes: failures, similar runs, run comparison, alerts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.failure_schemas import SignatureInfo
from api.schemas import Run, StepStatusName, Timestamp


class AgentFailures(BaseModel):
    name: str
    count: int


class Failure(SignatureInfo):
    count: int = Field(description="runs that failed this way in the window")
    agents: list[AgentFailures] = Field(description="the agents it happened to, most first")
    first_seen: Timestamp | None = Field(description="the earliest such failure stored")
    last_seen: Timestamp | None = Field(description="the newest such failure in the window")
    sample_run_id: str | None = Field(description="the newest run in the window that failed so")
    sample_error: dict[str, str | None] | None = Field(
        description="that run's error as reported (type and message)"
    )
    trend: list[int] = Field(description="failed runs per trend bucket, oldest first")
    growth: int = Field(
        description="failures in the later half of the trend less those in its earlier half"
    )
    runs_url: str = Field(description="the API query listing these runs")


class FailureList(BaseModel):
    since: Timestamp = Field(description="the window's start (widened to a whole minute)")
    until: Timestamp
    trend_start: Timestamp = Field(description="the start of the first trend bucket")
    trend_bucket_ms: int = Field(description="the width of each trend bucket")
    total: int = Field(description="signatures in the window (items holds `limit` of them)")
    order: Literal["growing", "count", "recent"]
    items: list[Failure]


class SimilarRun(BaseModel):
    similarity: float = Field(description="cosine similarity of the runs' embeddings, -1..1")
    run: Run


class SimilarRuns(BaseModel):
    run_id: str
    state: Literal["ready", "pending", "not_finished"] = Field(
        description="ready: items are the nearest runs; pending: the run is finished but not "
        "embedded yet (try again shortly); not_finished: runs are embedded once they finish"
    )
    message: str | None = Field(description="what the state means, for a person")
    model: str | None = Field(description="the embedding model the vectors come from")
    search: Literal["exact", "approximate", "newest"] | None = Field(
        description="how the runs were found: exact (every embedded run of the agent), "
        "approximate (pgvector's HNSW index, for agents with many runs), newest (exact among "
        "the agent's most recent runs, when the index found too few); null when not searched"
    )
    items: list[SimilarRun]


class SimilarRunsStatus(BaseModel):
    enabled: bool
    message: str | None = Field(description="why similar runs are off, and what to install")
    model: str | None = Field(description="the embedding model, when on")
    queued_runs: int | None = Field(
        description="finished runs of the project waiting to be embedded (the backlog)"
    )


class ComparedStepSide(BaseModel):
    id: str
    index: int
    kind: str
    name: str = Field(description="tool name, else model, else step name")
    status: StepStatusName
    duration_ms: float | None
    tokens: int | None
    cost: float | None
    error_type: str | None


class StepChange(BaseModel):
    field: Literal[
        "status",
        "input",
        "output",
        "error_type",
        "error_message",
        "duration_ms",
        "tokens",
        "cost",
    ]
    a: str | float | None
    b: str | float | None
    delta: float | None = Field(default=None, description="b - a, for numbers")
    truncated: bool = Field(
        default=False,
        description=f"a or b was cut here to {8192:,} characters; the step itself has it whole",
    )


class AlignedPairOut(BaseModel):
    operation: Literal["match", "substitute", "insert", "delete"]
    a: ComparedStepSide | None = Field(description="run A's step; null for an insertion")
    b: ComparedStepSide | None = Field(description="run B's step; null for a deletion")
    changes: list[StepChange]
    diverges: bool = Field(description="the runs did something different here")


class TotalChange(BaseModel):
    field: Literal["duration_ms", "tokens", "cost"]
    a: float | None
    b: float | None
    delta: float | None


class RunComparison(BaseModel):
    a: Run
    b: Run
    distance: int = Field(description="insertions + deletions + substitutions")
    matches: int
    substitutions: int
    insertions: int
    deletions: int
    first_divergence: int | None = Field(
        description="index into pairs of the first place the runs did something different"
    )
    totals: list[TotalChange] = Field(description="the steps' durations, tokens and cost summed")
    truncated: bool = Field(description="a run had more steps than were compared")
    pairs: list[AlignedPairOut]


class AlertRuleOut(BaseModel):
    id: str
    project: str
    name: str
    metric: str
    comparison: str
    threshold: float
    window_seconds: int
    window: str = Field(description="the window written short: 15m, 1h, 7d")
    agent: str | None
    tool: str | None
    signature: str | None
    webhook_url: str
    format: str
    fire_after: int
    resolve_after: int
    enabled: bool
    description: str = Field(description="the rule in one line")
    status: Literal["ok", "firing", "resolved"]
    episode: int = Field(description="how many times it has fired")
    last_value: float | None
    evaluated_at: Timestamp | None
    created_at: Timestamp


class CreatedAlertRule(AlertRuleOut):
    secret: str = Field(
        description="the signing secret (whsec_...): shown only now; receivers verify with it"
    )


class AlertRuleList(BaseModel):
    items: list[AlertRuleOut]


class DeliveryAttemptOut(BaseModel):
    attempt: int
    started_at: Timestamp
    duration_ms: float
    outcome: Literal["delivered", "retrying", "failed"]
    status_code: int | None
    error: str | None
    retry_in_seconds: float | None
    response_excerpt: str | None


class DeliveryOut(BaseModel):
    message_id: str = Field(description="the webhook-id header: the same on every attempt")
    notification_key: str
    event: Literal["firing", "resolved"]
    url: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    created_at: Timestamp
    next_attempt_at: Timestamp | None
    finished_at: Timestamp | None
    last_error: str | None
    log: list[DeliveryAttemptOut]


class DeliveryList(BaseModel):
    rule_id: str
    items: list[DeliveryOut]
