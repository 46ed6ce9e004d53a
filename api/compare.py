"""GET /v1/runs/compare?a=&b=: two runs side by side, their steps aligned
(``mapping.compare``), what changed in each aligned pair, and where they first diverge.

Steps are compared on their whole inputs, outputs and errors: where a stored preview was cut,
the whole value is mapped again from the raw span (``api.payloads``). In the answer, long
values of a change are cut to ``CHANGE_VALUE_CHARS`` (flagged); the step itself has them whole.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.errors import ApiError
from api.params import ERROR_RESPONSES, QueriesDep
from api.payloads import payloads_of
from api.presenters import present_run
from api.runs import RUN_ID_PATTERN
from api.triage_schemas import (
    AlignedPairOut,
    ComparedStepSide,
    RunComparison,
    StepChange,
    TotalChange,
)
from mapping.compare import ComparedStep, Comparison, FieldChange, compare_runs
from storage.compare_queries import ComparedStepRow, CompareQueries
from storage.derived_rows import RUN_PREVIEW_CHARS
from storage.queries import Queries
from storage.query_records import RunRow

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)

MAX_COMPARED_STEPS = 10_000
CHANGE_VALUE_CHARS = 8192

RunIdQuery = Annotated[str, Query(description="48 hex characters", pattern=RUN_ID_PATTERN)]


def _needs_whole_payload(step: ComparedStepRow) -> bool:
    return (
        step.input_truncated
        or step.output_truncated
        or len(step.error_message or "") >= RUN_PREVIEW_CHARS
    )


async def _compared_steps(
    request: Request, queries: Queries, run: RunRow
) -> tuple[list[ComparedStep], list[ComparedStepRow], bool]:
    step_queries = CompareQueries(request.app.state.store.pool, queries.project_id)
    trace_id, span_id = bytes.fromhex(run.trace_id), bytes.fromhex(run.span_id)
    rows = await step_queries.steps(trace_id, span_id, run.start_ns, MAX_COMPARED_STEPS + 1)
    truncated = len(rows) > MAX_COMPARED_STEPS
    rows = rows[:MAX_COMPARED_STEPS]
    wanted = [row.id for row in rows if _needs_whole_payload(row)]
    whole = {}
    if wanted:
        trace = await queries.trace_entry(bytes.fromhex(run.trace_id))
        payloads = await payloads_of(
            request.app.state.store.reader,
            queries.project_id,
            run.id,
            trace.span_count if trace is not None else None,
            wanted,
            spans_within=trace.spans_within if trace is not None else None,
        )
        whole = {i: payloads.by_id[i] for i in wanted if i in payloads.by_id}
    steps = []
    for row in rows:
        payload = whole.get(row.id)
        steps.append(
            ComparedStep(
                kind=row.kind,
                name=row.name,
                status=row.status,
                input=payload.input if payload else row.input,
                output=payload.output if payload else row.output,
                error_type=row.error_type,
                error_message=(payload.error_message or row.error_message)
                if payload
                else row.error_message,
                duration_ms=row.duration_ms,
                tokens=row.tokens,
                cost=row.cost,
                id=row.id,
            )
        )
    return steps, rows, truncated


def _side(row: ComparedStepRow) -> ComparedStepSide:
    return ComparedStepSide(
        id=row.id,
        index=row.index,
        kind=row.kind,
        name=row.name,
        status=row.status,  # type: ignore[arg-type]
        duration_ms=row.duration_ms,
        tokens=row.tokens,
        cost=row.cost,
        error_type=row.error_type,
    )


def _cut(value: str | float | None) -> tuple[str | float | None, bool]:
    if isinstance(value, str) and len(value) > CHANGE_VALUE_CHARS:
        return value[:CHANGE_VALUE_CHARS], True
    return value, False


def _change(change: FieldChange) -> StepChange:
    a, a_cut = _cut(change.a)
    b, b_cut = _cut(change.b)
    return StepChange(
        field=change.field,  # type: ignore[arg-type]
        a=a,
        b=b,
        delta=change.delta,
        truncated=a_cut or b_cut,
    )


def _present(
    comparison: Comparison,
    run_a: RunRow,
    run_b: RunRow,
    rows_a: list[ComparedStepRow],
    rows_b: list[ComparedStepRow],
    truncated: bool,
) -> RunComparison:
    return RunComparison(
        a=present_run(run_a),
        b=present_run(run_b),
        distance=comparison.distance,
        matches=comparison.matches,
        substitutions=comparison.substitutions,
        insertions=comparison.insertions,
        deletions=comparison.deletions,
        first_divergence=comparison.first_divergence,
        totals=[
            TotalChange(field=t.field, a=t.a, b=t.b, delta=t.delta)  # type: ignore[arg-type]
            for t in comparison.totals
        ],
        truncated=truncated,
        pairs=[
            AlignedPairOut(
                operation=pair.operation,
                a=_side(rows_a[pair.a_position]) if pair.a_position is not None else None,
                b=_side(rows_b[pair.b_position]) if pair.b_position is not None else None,
                changes=[_change(change) for change in pair.changes],
                diverges=pair.diverges,
            )
            for pair in comparison.pairs
        ],
    )


@router.get(
    "/v1/runs/compare",
    response_model=RunComparison,
    summary="Two runs side by side: steps aligned, differences, first divergence",
    description="Steps are aligned by kind and name in order with a minimum edit script "
    "(match, substitute, insert, delete). Each aligned pair lists what differs: status, input, "
    "output, error type and message (on whole values), duration, tokens and cost (with b - a). "
    f"At most {MAX_COMPARED_STEPS:,} steps of each run are compared.",
)
async def compare(
    request: Request, queries: QueriesDep, a: RunIdQuery, b: RunIdQuery
) -> RunComparison:
    a, b = a.lower(), b.lower()
    run_a = await queries.get_run(a)
    if run_a is None:
        raise ApiError(404, f"no run {a} (a)")
    run_b = await queries.get_run(b)
    if run_b is None:
        raise ApiError(404, f"no run {b} (b)")
    steps_a, rows_a, cut_a = await _compared_steps(request, queries, run_a)
    steps_b, rows_b, cut_b = await _compared_steps(request, queries, run_b)
    comparison = await asyncio.to_thread(compare_runs, steps_a, steps_b)
    truncated = cut_a or cut_b
    return await asyncio.to_thread(_present, comparison, run_a, run_b, rows_a, rows_b, truncated)
