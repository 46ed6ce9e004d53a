"""GET /v1/agents: every agent that has runs, with run and failure counts."""

from __future__ import annotations

from fastapi import APIRouter

from api.params import ERROR_RESPONSES, QueriesDep
from api.schemas import Agent, AgentList
from api.times import format_time

router = APIRouter(tags=["agents"], responses=ERROR_RESPONSES)


@router.get("/v1/agents", summary="Agents with their run counts", response_model=AgentList)
async def list_agents(queries: QueriesDep) -> AgentList:
    rows = await queries.list_agents()
    return AgentList(
        items=[
            Agent(
                id=row.agent_id,
                name=row.name,
                version=row.version,
                description=row.description,
                run_count=row.run_count,
                failure_count=row.failure_count,
                last_run_at=format_time(row.last_run_ns),
                first_seen_at=format_time(row.first_seen_ns),
                last_seen_at=format_time(row.last_seen_ns),
                cost=row.cost,
                unpriced_llm_calls=row.unpriced_calls,
            )
            for row in rows
        ]
    )
