"""The costs of a derived trace: every LLM step priced, and each run's own sum.

A pure function of the trace's facts and the price overrides in force, applied at derivation
(re-deriving reprices). An LLM step nested in another LLM step of the same run (one call
instrumented twice) is priced but counted once, like its tokens: only the outermost counts
towards its run. A run's cost is that of its own steps; ``with_children`` adds its sub-runs'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mapping.model import DerivedTrace, SpanFacts, Step
from mapping.pricing import (
    CostResult,
    CostRollup,
    PriceOverrides,
    TokenUsage,
    price_llm_call,
    reported_cost,
)

CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
REASONING_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",
    "llm.token_count.completion_details.reasoning",
)


def _count(usage: Mapping[str, float], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = usage.get(key)
        if value is not None and value >= 0 and float(value).is_integer():
            return int(value)
    return None


def token_usage(facts: SpanFacts) -> TokenUsage:
    """The token counts of an LLM span, with the cache and reasoning details it reports."""

    def first(value: int | None, keys: tuple[str, ...]) -> int | None:
        return value if value is not None else _count(facts.usage, keys)

    return TokenUsage(
        input_tokens=facts.input_tokens,
        output_tokens=facts.output_tokens,
        cache_read_input_tokens=first(facts.cache_read_input_tokens, CACHE_READ_KEYS),
        cache_write_input_tokens=first(facts.cache_write_input_tokens, CACHE_WRITE_KEYS),
        reasoning_output_tokens=first(facts.reasoning_output_tokens, REASONING_KEYS),
        total_tokens=facts.total_tokens,
    )


@dataclass(slots=True)
class TraceCosts:
    steps: dict[str, CostResult] = field(default_factory=dict)  # by step id
    tokens: dict[str, TokenUsage] = field(default_factory=dict)  # by step id
    runs: dict[str, CostRollup] = field(default_factory=dict)  # own steps, by run id
    # (cache read, cache write, reasoning) tokens of each run's own counted LLM steps
    run_token_details: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    with_children: dict[str, CostRollup] = field(default_factory=dict)  # and sub-runs'
    # the price data that priced each run's own counted LLM steps ("genai-prices 0.2.3",
    # "override 7"), sorted; a reported cost names none
    run_price_versions: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _counted(steps: list[Step]) -> set[str]:
    """LLM steps not nested in another LLM step of their run."""
    by_id = {step.id: step for step in steps}
    counted = set()
    for step in steps:
        if step.kind != "llm":
            continue
        parent = step.parent_step_id
        nested = False
        for _ in range(len(steps)):
            if parent is None or parent not in by_id:
                break
            if by_id[parent].kind == "llm":
                nested = True
                break
            parent = by_id[parent].parent_step_id
        if not nested:
            counted.add(step.id)
    return counted


def _with_children(
    costs: TraceCosts, children: Mapping[str | None, list[str]], run_id: str, depth_left: int
) -> CostRollup:
    """The cost of a run and the runs below it, kept in ``costs.with_children``; a parent
    cycle stops after as many levels as there are runs. (A function of its own, not a
    closure: a recursive closure would make every derived trace a reference cycle.)"""
    found = costs.with_children.get(run_id)
    if found is not None:
        return found
    rollup = costs.runs.get(run_id, CostRollup())
    if depth_left > 0:
        for child in children.get(run_id, []):
            rollup = rollup + _with_children(costs, children, child, depth_left - 1)
    costs.with_children[run_id] = rollup
    return rollup


def price_trace(
    derived: DerivedTrace,
    facts_by_span: Mapping[str, SpanFacts],
    overrides: PriceOverrides | None = None,
) -> TraceCosts:
    costs = TraceCosts()
    llm_steps = [step for step in derived.steps if step.kind == "llm"]
    for step in llm_steps:
        facts = facts_by_span.get(step.span_id)
        if facts is None:
            continue
        usage = token_usage(facts)
        costs.tokens[step.id] = usage
        costs.steps[step.id] = price_llm_call(
            facts.model,
            facts.provider,
            usage,
            facts.start_ns,
            overrides,
            reported_cost=reported_cost(facts.usage),
        )
    counted = _counted(derived.steps)
    for run in derived.runs:
        rollup = CostRollup()
        cache_read = cache_write = reasoning = 0
        versions: set[str] = set()
        for step in llm_steps:
            if step.run_id == run.id and step.id in counted and step.id in costs.steps:
                result = costs.steps[step.id]
                rollup = rollup.add(result)
                if result.price_version is not None:
                    versions.add(result.price_version)
                usage = costs.tokens[step.id]
                cache_read += usage.cache_read_input_tokens or 0
                cache_write += usage.cache_write_input_tokens or 0
                reasoning += usage.reasoning_output_tokens or 0
        costs.runs[run.id] = rollup
        costs.run_token_details[run.id] = (cache_read, cache_write, reasoning)
        if versions:
            costs.run_price_versions[run.id] = tuple(sorted(versions))
    children: dict[str | None, list[str]] = {}
    for run in derived.runs:
        children.setdefault(run.parent_run_id, []).append(run.id)
    for run in derived.runs:
        _with_children(costs, children, run.id, len(derived.runs))
    return costs
