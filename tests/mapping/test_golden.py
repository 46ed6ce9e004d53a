"""Every captured fixture scenario maps to the runs and steps of its expected.json."""

from __future__ import annotations

import gc
import json
import random
from pathlib import Path
from typing import Any

import pytest

from mapping import derive_trace
from mapping.derive import derived_agent_id
from mapping.model import STEP_CATEGORIES, DerivedTrace, Run, SpanFacts, Step, make_id
from mapping.trace_costs import price_trace
from tests.mapping.otlp import scenario_dirs, scenario_facts

SCENARIOS = scenario_dirs()
DETAIL_TOKEN_FIELDS = (
    "cache_read_input_tokens",
    "cache_write_input_tokens",
    "reasoning_output_tokens",
)


def _facts_by_trace(facts: list[SpanFacts]) -> dict[str, list[SpanFacts]]:
    traces: dict[str, list[SpanFacts]] = {}
    for f in facts:
        traces.setdefault(f.trace_id, []).append(f)
    return traces


def _derived_by_trace(facts: list[SpanFacts]) -> dict[str, DerivedTrace]:
    return {trace_id: derive_trace(group) for trace_id, group in _facts_by_trace(facts).items()}


def _expected(scenario: Path) -> dict[str, Any]:
    return json.loads((scenario / "expected.json").read_text())  # type: ignore[no-any-return]


def test_fixtures_are_present() -> None:
    assert SCENARIOS, "no fixture scenarios found under tests/fixtures"


def _check_step(step: Step, expected: dict[str, Any], runs_by_id: dict[str, Run]) -> None:
    assert step.kind == expected["kind"]
    assert step.span_id == expected["span_id"]
    assert (step.status == "FAILED") == expected["errored"]
    assert step.error_message == expected["error_message"]
    if step.kind == "tool":
        assert step.tool_name == expected["tool_name"]
        assert step.name == expected["tool_name"]
    if step.kind == "llm":
        assert step.model == expected["model"]
        assert step.name == expected["model"]
        assert step.input_tokens == expected["input_tokens"]
        assert step.output_tokens == expected["output_tokens"]
        for field in DETAIL_TOKEN_FIELDS:  # where the expectation names them
            if field in expected:
                assert getattr(step, field) == expected[field], field
    if step.kind == "agent":
        assert step.child_run_id is not None
        assert runs_by_id[step.child_run_id].agent_name == expected["agent_name"]
        assert step.agent_name == expected["agent_name"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_matches_expected(scenario: Path) -> None:
    expected = _expected(scenario)
    facts = scenario_facts(scenario)
    assert len(facts) == expected["span_count"]
    derived = _derived_by_trace(facts)
    assert sorted(derived) == sorted(expected["trace_ids"])
    facts_by_span = {f.span_id: f for f in facts}

    all_runs = [run for trace in derived.values() for run in trace.runs]
    assert [run.span_id for run in all_runs] == [r["span_id"] for r in expected["runs"]]
    for run, want in zip(all_runs, expected["runs"], strict=True):
        trace = derived[run.trace_id]
        runs_by_id = {r.id: r for r in trace.runs}
        assert run.trace_id == want["trace_id"]
        assert run.id == make_id(want["trace_id"], want["span_id"])
        assert run.agent_name == want["agent_name"]
        assert run.name == want["span_name"]
        assert run.status == want["status"]
        assert run.error_message == want["error_message"]
        assert run.input == want["input_summary"]
        assert run.output == want["output_summary"]
        for text, source in ((run.input, run.input_source), (run.output, run.output_source)):
            # where the text came from: a span of this trace, and the key read there
            assert (source is None) == (text is None)
            if source is not None:
                span_id, _, key = source.partition("/")
                assert facts_by_span[span_id].trace_id == run.trace_id and key
        assert run.handoff_from_agent == want.get("handoff_from_agent")
        parent_span = want["parent_run_span_id"]
        assert run.parent_run_id == (make_id(run.trace_id, parent_span) if parent_span else None)
        if run.parent_run_id is not None:
            assert runs_by_id[run.parent_run_id].agent_name == want["parent_run_agent_name"]

        steps = [step for step in trace.steps if step.run_id == run.id]
        assert [step.index for step in steps] == list(range(len(steps)))
        assert len(steps) == len(want["steps"])
        for step, want_step in zip(steps, want["steps"], strict=True):
            _check_step(step, want_step, runs_by_id)

        llm_totals = want["llm_token_totals"] or {"input_tokens": 0, "output_tokens": 0}
        assert run.input_tokens == llm_totals["input_tokens"]
        assert run.output_tokens == llm_totals["output_tokens"]
        assert run.total_tokens == run.input_tokens + run.output_tokens
        for field in DETAIL_TOKEN_FIELDS:
            if field in llm_totals:
                assert getattr(run, field) == llm_totals[field], field
        on_span = want["token_totals_on_run_span"]
        agent_span = facts_by_span[run.span_id]
        if on_span is None:
            assert agent_span.input_tokens is None and agent_span.output_tokens is None
        else:
            assert agent_span.input_tokens == on_span["input_tokens"]
            assert agent_span.output_tokens == on_span["output_tokens"]
        assert run.orphan_span_count == 0
        assert run.step_count == len(want["steps"])
        assert run.tool_call_count == sum(1 for s in want["steps"] if s["kind"] == "tool")
        # an LLM step within an LLM step is one call recorded twice: counted once
        assert run.llm_call_count == sum(
            1 for s in want["steps"] if s["kind"] == "llm" and not s.get("within_llm_step")
        )
        assert run.failed_step_count == sum(1 for s in want["steps"] if s["errored"])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_agents_are_the_runs_agents(scenario: Path) -> None:
    expected = _expected(scenario)
    for trace in _derived_by_trace(scenario_facts(scenario)).values():
        assert [agent.name for agent in trace.agents] == sorted(
            {r["agent_name"] for r in expected["runs"] if r["trace_id"] == trace.trace_id}
        )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_failed_tools_are_metrics(scenario: Path) -> None:
    expected = _expected(scenario)
    for trace in _derived_by_trace(scenario_facts(scenario)).values():
        failures = sorted(
            (m.run_id[32:], m.tags["tool"]) for m in trace.metrics if m.name == "tool_failures"
        )
        assert failures == sorted(
            (r["span_id"], s["tool_name"])
            for r in expected["runs"]
            for s in r["steps"]
            if s["errored"] and s["kind"] == "tool"
        )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_every_arrival_prefix_maps_every_step(scenario: Path) -> None:
    """Spans arrive children first: at every point each arrived agent span is a run, each
    arrived step span a step, and the runs whose own span has not arrived are RUNNING."""
    facts = scenario_facts(scenario)
    for end in range(1, len(facts) + 1):
        arrived = facts[:end]
        trace = derive_trace(arrived)
        arrived_ids = {f.span_id for f in arrived}
        agent_spans = {f.span_id for f in arrived if f.category == "agent"}
        assert agent_spans <= {run.span_id for run in trace.runs}
        assert {s.span_id for s in trace.steps if s.kind != "agent"} == {
            f.span_id for f in arrived if f.category in STEP_CATEGORIES
        }
        for run in trace.runs:
            assert (run.status == "RUNNING") == (run.span_id not in arrived_ids)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_result_is_independent_of_order(scenario: Path) -> None:
    facts = scenario_facts(scenario)
    expected = _derived_by_trace(facts)
    shuffler = random.Random(scenario.name)
    for _ in range(25):
        shuffled = facts[:]
        shuffler.shuffle(shuffled)
        assert _derived_by_trace(shuffled) == expected


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_agents_are_named_by_their_spans_not_their_service(scenario: Path) -> None:
    """Every captured framework names its agents: no run falls back to the service name, and
    none sends an agent id, so each agent's id is the one derived from its name."""
    facts = scenario_facts(scenario)
    services = {f.service_name for f in facts}
    for trace in _derived_by_trace(facts).values():
        for run in trace.runs:
            assert run.agent_name not in services
            assert run.agent_id == derived_agent_id(run.agent_name)


def test_deriving_and_pricing_leave_no_reference_cycles() -> None:
    """A derived trace is freed by reference counting as soon as it is dropped: the derive
    workers freeze what each batch leaves alive (agentguide.memory.SurvivorFreezer), so a
    cycle would stay frozen until the next full pass."""
    traces = _facts_by_trace([f for scenario in SCENARIOS for f in scenario_facts(scenario)])

    def derive_and_price_all() -> None:
        for trace_facts in traces.values():
            price_trace(derive_trace(trace_facts), {f.span_id: f for f in trace_facts})

    derive_and_price_all()  # loads the price catalogue and what is imported on first use
    gc.collect()
    gc.disable()
    try:
        derive_and_price_all()
        assert gc.collect() == 0
    finally:
        gc.enable()
