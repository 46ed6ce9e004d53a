"""The filters of run lists (``GET /v1/runs`` and ``GET /v1/runs/export``), as one dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from api.params import AgentDep, WindowDep, text_value
from api.schemas import RunStatusName
from api.search_params import AttributesDep, WordsDep
from storage.query_records import RunFilters


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
        attributes=attributes,
        words=words,
    )


RunFiltersDep = Annotated[RunFilters, Depends(run_filters)]
