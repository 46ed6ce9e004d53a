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


class TimelineStep(BaseModel):
    """The narrow fields of a step: enough to draw it, none of its payloads."""

    index: int
    span_id: str
    kind: str
    name: str
    tool_name: str | None
    status: StepStatusName
    offset_ms: float = Field(description="start of the step after the start of the run")
    duration_ms: float | None = Field(description="null while the step is not finished")
    parent_index: int | None = Field(description="index of the step this one is nested in")
    child_run_id: str | None = Field(description="for an agent step: the run it invoked")
    error_type: str | None
    model: str | None
    total_tokens: int | None


class RunTimeline(Run):
    """A run with every step in index order, without the steps' inputs, outputs and artifacts
    (GET /v1/runs/{run_id}/steps has those)."""

    metrics: list[Metric]
    artifacts: list[Artifact] = Field(description="artifacts of the run's own span")
    steps: list[TimelineStep]
