"""GET /v1/tools: per tool name, calls, failures and duration percentiles."""

from __future__ import annotations

from fastapi import APIRouter

from api.params import ERROR_RESPONSES, AgentDep, ExactDep, QueriesDep, WindowDep
from api.presenters import present_distribution
from api.schemas import ToolList, ToolStats

router = APIRouter(tags=["tools"], responses=ERROR_RESPONSES)


@router.get(
    "/v1/tools",
    summary="Tool calls by tool name: calls, failures, duration percentiles",
    response_model=ToolList,
)
async def list_tools(
    queries: QueriesDep, window: WindowDep, agent: AgentDep, exact: ExactDep
) -> ToolList:
    rows = await queries.tool_stats(agent=agent, window=window, exact=exact)
    return ToolList(
        items=[
            ToolStats(
                tool=row.tool,
                calls=row.calls,
                failures=row.failures,
                failure_rate=row.failures / row.calls,
                duration_ms=present_distribution(row.duration_ms),
            )
            for row in rows
        ],
        exact=exact,
    )
