"""The cost the simulator expects for each model call it sends: priced by ``mapping.pricing``
from what the chat span says (its response model, else its request model, its provider, its
token counts and its start time), as AgentGuide prices the stored step."""

from __future__ import annotations

from decimal import Decimal

from agentguide.simulation.planner import Step
from mapping.pricing import CostResult, TokenUsage, price_llm_call

__all__ = ["add_cost", "expected_call_cost", "step_model"]


def step_model(step: Step) -> str | None:
    """The model a chat span names: the response model when it has one."""
    for key in ("gen_ai.response.model", "gen_ai.request.model"):
        value = step.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _count(step: Step, key: str) -> int | None:
    value = step.attributes.get(key)
    return value if isinstance(value, int) else None


def expected_call_cost(step: Step, start_ns: int) -> CostResult:
    """The cost of one planned chat span that starts at ``start_ns``."""
    provider = step.attributes.get("gen_ai.provider.name")
    usage = TokenUsage(
        input_tokens=_count(step, "gen_ai.usage.input_tokens"),
        output_tokens=_count(step, "gen_ai.usage.output_tokens"),
        cache_read_input_tokens=_count(step, "gen_ai.usage.cache_read.input_tokens"),
        cache_write_input_tokens=_count(step, "gen_ai.usage.cache_creation.input_tokens"),
        reasoning_output_tokens=_count(step, "gen_ai.usage.reasoning.output_tokens"),
    )
    return price_llm_call(
        step_model(step), provider if isinstance(provider, str) else None, usage, start_ns
    )


def add_cost(costs: dict[str, Decimal], model: str | None, result: CostResult) -> None:
    """Add a priced call's cost to ``costs`` (by model)."""
    if result.cost is not None:
        key = model or "unknown"
        costs[key] = costs.get(key, Decimal(0)) + result.cost
