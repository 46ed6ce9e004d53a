"""From storage rows to the API's answer models."""

from __future__ import annotations

from collections import defaultdict

from api.schemas import (
    AgentRef,
    Artifact,
    Distribution,
    ErrorInfo,
    Metric,
    Run,
    RunDetail,
    Score,
    Step,
)
from api.times import format_optional_time, format_time
from storage.query_records import (
    ArtifactRow,
    MetricRow,
    Percentiles,
    RunDetailRows,
    RunRow,
    StepRow,
)
from storage.scores import ScoreRow


def _error(error_type: str | None, message: str | None) -> ErrorInfo | None:
    if error_type is None and message is None:
        return None
    return ErrorInfo(type=error_type, message=message)


def present_run(row: RunRow) -> Run:
    return Run(
        id=row.id,
        trace_id=row.trace_id,
        span_id=row.span_id,
        name=row.name,
        agent=AgentRef(id=row.agent_id, name=row.agent_name, version=row.agent_version),
        parent_run_id=row.parent_run_id,
        status=row.status,  # type: ignore[arg-type]
        input=row.input,
        input_truncated=row.input_truncated,
        output=row.output,
        output_truncated=row.output_truncated,
        error=_error(row.error_type, row.error_message),
        started_at=format_time(row.start_ns),
        finished_at=format_optional_time(row.end_ns),
        duration_ms=row.duration_ms,
        step_count=row.step_count,
        tool_call_count=row.tool_call_count,
        llm_call_count=row.llm_call_count,
        failed_step_count=row.failed_step_count,
        orphan_span_count=row.orphan_span_count,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        total_tokens=row.total_tokens,
        models=list(row.models),
        session_id=row.session_id,
        user_id=row.user_id,
        service_name=row.service_name,
        cost=row.cost,
        unpriced_llm_calls=row.unpriced_calls,
    )


def present_artifact(row: ArtifactRow) -> Artifact:
    return Artifact(
        id=row.id,
        type=row.type,
        name=row.name,
        content=row.content,
        url=row.url,
        time=format_optional_time(row.time_ns),
        truncated=row.truncated,
        span_id=row.span_id,
    )


def present_step(row: StepRow, artifacts: list[Artifact]) -> Step:
    return Step(
        id=row.id,
        run_id=row.run_id,
        index=row.index,
        kind=row.kind,
        name=row.name,
        tool_name=row.tool_name,
        status=row.status,  # type: ignore[arg-type]
        input=row.input,
        input_truncated=row.input_truncated,
        output=row.output,
        output_truncated=row.output_truncated,
        error=_error(row.error_type, row.error_message),
        started_at=format_time(row.start_ns),
        finished_at=format_optional_time(row.end_ns),
        duration_ms=row.duration_ms,
        model=row.model,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        total_tokens=row.total_tokens,
        cache_read_tokens=row.cache_read_tokens,
        cache_write_tokens=row.cache_write_tokens,
        reasoning_tokens=row.reasoning_tokens,
        cost=row.cost,
        cost_source=row.cost_source,  # type: ignore[arg-type]
        unpriced_reason=row.unpriced_reason,  # type: ignore[arg-type]
        price_version=row.price_version,
        span_id=row.span_id,
        parent_step_id=row.parent_step_id,
        child_run_id=row.child_run_id,
        artifacts=artifacts,
    )


def present_metric(row: MetricRow) -> Metric:
    return Metric(name=row.name, value=row.value, tags=row.tags)


def present_run_detail(rows: RunDetailRows) -> RunDetail:
    by_step: dict[str | None, list[Artifact]] = defaultdict(list)
    for artifact in rows.artifacts:
        by_step[artifact.step_id].append(present_artifact(artifact))
    run = present_run(rows.run)
    return RunDetail(
        **run.model_dump(),
        steps=[present_step(step, by_step.get(step.id, [])) for step in rows.steps],
        metrics=[present_metric(metric) for metric in rows.metrics],
        artifacts=by_step.get(None, []),
        child_runs=[present_run(child) for child in rows.child_runs],
        cost_with_sub_runs=rows.cost_with_sub_runs,
        price_versions=rows.price_versions,
    )


def present_distribution(values: Percentiles) -> Distribution:
    return Distribution(avg=values.avg, p50=values.p50, p95=values.p95, p99=values.p99)


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def present_score(row: ScoreRow) -> Score:
    return Score(
        id=row.id,
        run_id=row.run_id,
        step_id=row.step_id,
        step_index=row.step_index,
        span_id=row.span_id,
        name=row.name,
        value=row.value,
        label=row.label,
        explanation=row.explanation,
        error_type=row.error_type,
        source=row.source,  # type: ignore[arg-type]
        observed_at=format_time(row.observed_ns),
    )
