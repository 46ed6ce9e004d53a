"""Answer models of the paged steps and the run timeline (api/run_steps.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import Artifact, Metric, Run, Step, StepStatusName


class StepPage(BaseModel):
    """Steps of a run by index, a page at a time."""

    run_id: str
    total: int = Field(description="the run's number of steps")
    offset: int = Field(description="the index the page starts from")
    limit: int
    items: list[Step]
    next_offset: int | None = Field(
        description="pass as offset for the next page; null on the last page"
    )


class TimelineSteps(BaseModel):
    """Every step of a run, column by column: entry i of each list belongs to the i-th step in
    index order. Only what it takes to draw the steps; times are rounded to the microsecond."""

    count: int
    index: list[int]
    kind: list[str]
    name: list[str]
    status: list[StepStatusName]
    offset_ms: list[float] = Field(description="start of each step after the start of the run")
    duration_ms: list[float | None] = Field(description="null while the step is not finished")
    parent_index: list[int | None] = Field(
        description="index of the step each one is nested in, when that step is in this run"
    )
    child_run_id: list[str | None] = Field(description="for agent steps: the run they invoked")
    error_type: list[str | None]
    cost: list[float | None] = Field(
        description="USD of each LLM call (null when unpriced, and for other steps)"
    )


class RunTimeline(Run):
    """A run with every step's timing, kind and status, without the steps' inputs, outputs and
    artifacts (GET /v1/runs/{run_id}/steps has those): small enough for runs of any size."""

    metrics: list[Metric]
    artifacts: list[Artifact] = Field(description="artifacts of the run's own span")
    cost_with_sub_runs: float | None = Field(
        description="as in GET /v1/runs/{run_id}: cost plus its sub-runs' priced LLM calls"
    )
    price_versions: list[str] = Field(
        description="as in GET /v1/runs/{run_id}: the price data of its own LLM calls"
    )
    steps: TimelineSteps
