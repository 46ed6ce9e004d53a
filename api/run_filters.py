"""The filters of run lists (``GET /v1/runs`` and ``GET /v1/runs/export``), as one dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from api.params import AgentDep, WindowDep, invalid_parameter, text_value
from api.schemas import RunStatusName
from api.search_params import AttributesDep, WordsDep
from storage.query_records import RunFilters, ScoreFilter


def score_filter(
    name: str | None, low: float | None, high: float | None, label: str | None
) -> ScoreFilter | None:
    """The ``score`` filter of the runs list; bounds and label refine it and need it."""
    if name is None:
        for given, parameter in ((low, "score_min"), (high, "score_max"), (label, "score_label")):
            if given is not None:
                raise invalid_parameter(parameter, "needs score (the name of the score)")
        return None
    if low is not None and high is not None and low > high:
        raise invalid_parameter("score_max", "must not be less than score_min")
    return ScoreFilter(
        name=text_value(name, "score") or name,
        min=low,
        max=high,
        label=text_value(label, "score_label"),
    )


def run_filters(
    window: WindowDep,
    agent: AgentDep,
    attributes: AttributesDep,
    words: WordsDep,
    status: Annotated[RunStatusName | None, Query(description="run status")] = None,
    trace_id: Annotated[
        str | None,
        Query(description="the runs of one trace (32 hex characters)", pattern="^[0-9a-fA-F]{32}$"),
    ] = None,
    session_id: Annotated[str | None, Query(description="session or conversation id")] = None,
    user_id: Annotated[str | None, Query()] = None,
    tool: Annotated[str | None, Query(description="runs that called this tool")] = None,
    min_duration_ms: Annotated[
        float | None,
        Query(ge=0, allow_inf_nan=False, description="runs that took at least this long"),
    ] = None,
    has_error: Annotated[
        bool | None,
        Query(description="true: the run failed or one of its steps did; false: neither"),
    ] = None,
    min_cost: Annotated[
        float | None,
        Query(
            ge=0,
            allow_inf_nan=False,
            description="runs whose own cost is at least this many USD (unpriced runs never match)",
        ),
    ] = None,
    signature: Annotated[
        str | None,
        Query(description="failed runs with this failure signature id", pattern="^[0-9a-f]{16}$"),
    ] = None,
    score: Annotated[
        str | None,
        Query(
            min_length=1,
            description="runs with a score of this name, on the run or one of its steps",
        ),
    ] = None,
    score_min: Annotated[
        float | None,
        Query(allow_inf_nan=False, description="with score: one such score's value is >= this"),
    ] = None,
    score_max: Annotated[
        float | None,
        Query(allow_inf_nan=False, description="with score: one such score's value is <= this"),
    ] = None,
    score_label: Annotated[
        str | None, Query(description="with score: one such score has this label")
    ] = None,
) -> RunFilters:
    return RunFilters(
        window=window,
        agent=agent,
        status=status,
        trace_id=bytes.fromhex(trace_id) if trace_id else None,
        session_id=text_value(session_id, "session_id"),
        user_id=text_value(user_id, "user_id"),
        tool=text_value(tool, "tool"),
        min_duration_ms=min_duration_ms,
        has_error=has_error,
        min_cost=min_cost,
        signature=signature,
        score=score_filter(score, score_min, score_max, score_label),
        attributes=attributes,
        words=words,
    )


RunFiltersDep = Annotated[RunFilters, Depends(run_filters)]
