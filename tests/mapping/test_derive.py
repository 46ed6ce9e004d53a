"""derive_trace: runs, steps, artifacts, metrics and agents from the facts of one trace."""

from __future__ import annotations

import uuid

import pytest

from mapping import derive_trace
from mapping.derive import AGENT_ID_NAMESPACE
from mapping.model import ArtifactFacts, DerivedTrace, Metric, Run, Step
from tests.mapping.builders import TRACE, facts, rid, sid


def run_of(trace: DerivedTrace, n: int) -> Run:
    return next(run for run in trace.runs if run.span_id == sid(n))


def steps_of(trace: DerivedTrace, n: int) -> list[Step]:
    return [step for step in trace.steps if step.run_id == rid(n)]


def metrics_of(trace: DerivedTrace, n: int) -> dict[str, float]:
    return {m.name: m.value for m in trace.metrics if m.run_id == rid(n) and not m.tags}


# --- runs and steps ---------------------------------------------------------------------


def test_an_agent_span_is_a_run_and_its_calls_are_ordered_steps() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", name="invoke_agent a", start=0, end=100),
            facts(2, 1, "llm", model="gpt", start=10),
            facts(4, 1, "tool", tool_name="search", start=20),
            facts(3, 1, "tool", tool_name="fetch", start=20),
            facts(5, 1, "retriever", name="kb lookup", start=30),
        ]
    )
    [run] = trace.runs
    assert (run.id, run.span_id, run.name, run.agent_name, run.status) == (
        rid(1),
        sid(1),
        "invoke_agent a",
        "agent-1",
        "SUCCESS",
    )
    assert (run.start_ns, run.end_ns, run.parent_run_id) == (0, 100, None)
    steps = steps_of(trace, 1)
    assert [(s.index, s.span_id, s.kind, s.name) for s in steps] == [
        (0, sid(2), "llm", "gpt"),
        (1, sid(3), "tool", "fetch"),  # same start as span 4: ordered by span id
        (2, sid(4), "tool", "search"),
        (3, sid(5), "retriever", "kb lookup"),
    ]
    assert all(s.id == rid(int(s.span_id, 16)) and s.trace_id == TRACE for s in steps)
    assert (run.step_count, run.tool_call_count, run.llm_call_count) == (4, 2, 1)


def test_steps_pass_through_any_number_of_plain_and_container_spans() -> None:
    chain = [facts(n, n - 1, "plain" if n % 2 else "container") for n in range(2, 40)]
    trace = derive_trace([facts(1, None, "agent"), *chain, facts(40, 39, "tool")])
    assert [r.span_id for r in trace.runs] == [sid(1)]
    assert [s.span_id for s in steps_of(trace, 1)] == [sid(40)]
    assert steps_of(trace, 1)[0].parent_step_id is None


def test_a_sub_agent_is_a_run_of_its_own_and_a_step_of_its_parent() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", agent_name="triage"),
            facts(2, 1, "llm", model="m"),
            facts(3, 1, "tool", tool_name="ask_weather"),
            facts(4, 3, "agent", agent_name="weather", name="invoke_agent weather"),
            facts(5, 4, "llm", model="m"),
            facts(6, 4, "tool", tool_name="get_weather"),
            facts(7, 1, "llm", model="m"),
        ]
    )
    assert [(r.span_id, r.agent_name, r.parent_run_id) for r in trace.runs] == [
        (sid(1), "triage", None),
        (sid(4), "weather", rid(1)),
    ]
    parent_steps = steps_of(trace, 1)
    assert [(s.span_id, s.kind) for s in parent_steps] == [
        (sid(2), "llm"),
        (sid(3), "tool"),
        (sid(4), "agent"),
        (sid(7), "llm"),
    ]
    agent_step = parent_steps[2]
    assert agent_step.name == "invoke_agent weather"
    assert (agent_step.child_run_id, agent_step.parent_step_id) == (rid(4), rid(3))
    assert agent_step.model is None and agent_step.input_tokens is None
    assert [s.span_id for s in steps_of(trace, 4)] == [sid(5), sid(6)]
    assert all(s.parent_step_id is None for s in steps_of(trace, 4))
    assert run_of(trace, 1).step_count == 4


def test_nested_steps_point_to_the_nearest_step_above() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent"),
            facts(2, 1, "task"),
            facts(3, 2, "plain"),
            facts(4, 3, "llm"),
            facts(5, 4, "tool"),
        ]
    )
    assert [(s.span_id, s.parent_step_id) for s in steps_of(trace, 1)] == [
        (sid(2), None),
        (sid(4), rid(2)),
        (sid(5), rid(4)),
    ]


def test_step_fields_come_from_the_span() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent"),
            facts(
                2,
                1,
                "tool",
                tool_name="convert",
                status="ERROR",
                error_type="RuntimeError",
                error_message="down",
                input="{}",
                output="x" * 3,
                output_truncated=True,
                start=11,
                end=19,
            ),
        ]
    )
    [step] = trace.steps
    assert (step.status, step.error_type, step.error_message) == ("FAILED", "RuntimeError", "down")
    assert (step.input, step.output, step.output_truncated) == ("{}", "xxx", True)
    assert (step.start_ns, step.end_ns, step.tool_name, step.model) == (11, 19, "convert", None)


def test_llm_step_without_a_model_is_named_after_its_span() -> None:
    trace = derive_trace([facts(1, None, "agent"), facts(2, 1, "llm", name="generation")])
    assert trace.steps[0].name == "generation"


# --- handoffs ---------------------------------------------------------------------------


def test_handoff_between_sibling_agents_keeps_both_top_level() -> None:
    trace = derive_trace(
        [
            facts(1, None, "container", name="Agent workflow"),
            facts(2, 1, "agent", agent_name="triage"),
            facts(3, 2, "tool", tool_name="handoff to weather"),
            facts(4, 1, "agent", agent_name="weather", handoff_from_agent="triage"),
            facts(5, 4, "llm"),
        ]
    )
    assert [(r.agent_name, r.parent_run_id, r.handoff_from_agent) for r in trace.runs] == [
        ("triage", None, None),
        ("weather", None, "triage"),
    ]
    assert [s.kind for s in steps_of(trace, 2)] == ["tool"]


# --- orphans and placeholders -----------------------------------------------------------


def test_steps_whose_agent_has_not_arrived_form_a_running_placeholder() -> None:
    arrived = [
        facts(2, 1, "llm", agent_name_hint="weather", start=20),
        facts(3, 1, "plain", start=30),
        facts(4, 3, "tool", start=40),
    ]
    trace = derive_trace(arrived)
    [run] = trace.runs
    assert (run.id, run.span_id, run.status, run.agent_name, run.name) == (
        rid(1),
        sid(1),
        "RUNNING",
        "weather",
        "weather",
    )
    assert (run.start_ns, run.end_ns, run.orphan_span_count) == (20, None, 2)
    assert [s.span_id for s in steps_of(trace, 1)] == [sid(2), sid(4)]
    assert "duration_ms" not in metrics_of(trace, 1)

    complete = derive_trace([facts(1, None, "agent", agent_name="weather"), *arrived])
    assert [r.id for r in complete.runs] == [rid(1)]
    assert complete.runs[0].status == "SUCCESS"
    assert complete.runs[0].orphan_span_count == 0
    assert [s.id for s in complete.steps] == [s.id for s in trace.steps]


def test_placeholder_is_named_after_the_service_without_a_hint() -> None:
    trace = derive_trace([facts(2, 1, "tool", service_name="billing")])
    assert trace.runs[0].agent_name == "billing"
    trace = derive_trace([facts(2, 1, "tool", service_name=None)])
    assert trace.runs[0].agent_name == "unknown"


def test_orphan_subtree_maps_to_its_own_agent_without_a_placeholder() -> None:
    trace = derive_trace(
        [facts(2, 1, "plain"), facts(3, 2, "agent"), facts(4, 3, "llm"), facts(5, 2, "plain")]
    )
    [run] = trace.runs
    assert (run.span_id, run.parent_run_id, run.status) == (sid(3), None, "SUCCESS")
    assert run.orphan_span_count == 0  # span 2 (the orphan) belongs to no run


def test_agent_whose_parent_has_not_arrived_counts_itself_as_orphan() -> None:
    trace = derive_trace([facts(3, 2, "agent"), facts(4, 3, "llm")])
    assert trace.runs[0].orphan_span_count == 1


def test_sub_agent_below_a_placeholder_is_its_child() -> None:
    trace = derive_trace(
        [facts(3, 1, "tool"), facts(4, 3, "agent"), facts(5, 4, "llm"), facts(6, 1, "llm")]
    )
    assert [(r.span_id, r.status, r.parent_run_id) for r in trace.runs] == [
        (sid(1), "RUNNING", None),
        (sid(4), "SUCCESS", rid(1)),
    ]
    assert [(s.span_id, s.kind) for s in steps_of(trace, 1)] == [
        (sid(3), "tool"),
        (sid(4), "agent"),
        (sid(6), "llm"),
    ]


def test_orphans_with_different_missing_parents_get_different_placeholders() -> None:
    trace = derive_trace([facts(3, 1, "tool"), facts(4, 2, "tool")])
    assert [r.span_id for r in trace.runs] == [sid(1), sid(2)]


# --- fallback: no agent span ------------------------------------------------------------


def test_trace_without_agent_span_is_one_run_of_its_root() -> None:
    trace = derive_trace(
        [
            facts(1, None, "container", name="weather-workflow.workflow", service_name="app"),
            facts(2, 1, "llm", model="m", input_tokens=3, output_tokens=4),
            facts(3, 1, "tool"),
        ]
    )
    [run] = trace.runs
    assert (run.span_id, run.name, run.agent_name, run.status) == (
        sid(1),
        "weather-workflow.workflow",
        "app",
        "SUCCESS",
    )
    assert [s.span_id for s in steps_of(trace, 1)] == [sid(2), sid(3)]
    assert (run.input_tokens, run.output_tokens, run.total_tokens) == (3, 4, 7)


def test_single_llm_span_trace_is_a_run_with_itself_as_step() -> None:
    trace = derive_trace([facts(1, None, "llm", name="chat", model="m", status="ERROR")])
    [run] = trace.runs
    assert (run.span_id, run.status, run.name) == (sid(1), "FAILED", "chat")
    assert [s.span_id for s in trace.steps] == [sid(1)]


def test_root_run_adopts_agents_when_steps_sit_outside_them() -> None:
    trace = derive_trace(
        [
            facts(1, None, "plain", name="request"),
            facts(2, 1, "llm"),
            facts(3, 1, "agent"),
            facts(4, 3, "tool"),
        ]
    )
    assert [(r.span_id, r.parent_run_id) for r in trace.runs] == [
        (sid(1), None),
        (sid(3), rid(1)),
    ]
    assert [s.kind for s in steps_of(trace, 1)] == ["llm", "agent"]


def test_root_is_no_run_when_every_step_is_inside_an_agent() -> None:
    trace = derive_trace([facts(1, None, "plain"), facts(2, 1, "agent"), facts(3, 2, "llm")])
    assert [r.span_id for r in trace.runs] == [sid(2)]


def test_trace_without_agents_is_one_run_of_its_root() -> None:
    """Issue 3's fallback: a trace with no agent span is one run, named after its root span,
    with service.name as the agent, even when no span in it is a step."""
    trace = derive_trace([facts(1, None, "plain"), facts(2, 1, "container")])
    (run,) = trace.runs
    assert (run.span_id, run.name, run.agent_name, run.status) == (
        sid(1),
        "span-1",
        "svc",
        "SUCCESS",
    )
    assert (run.step_count, trace.steps) == (0, [])


def test_orphan_trace_without_agents_is_a_running_run() -> None:
    (run,) = derive_trace([facts(2, 1, "plain")]).runs
    assert (run.span_id, run.status, run.orphan_span_count) == (sid(1), "RUNNING", 1)


def test_no_facts_no_trace() -> None:
    assert derive_trace([]) == DerivedTrace(trace_id="")


# --- status and errors ------------------------------------------------------------------


def test_failed_agent_span_fails_the_run_with_its_own_error() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", status="ERROR", error_type="RuntimeError", error_message="x"),
            facts(2, 1, "tool", status="ERROR", error_message="y"),
        ]
    )
    run = trace.runs[0]
    assert (run.status, run.error_type, run.error_message) == ("FAILED", "RuntimeError", "x")
    assert run.failed_step_count == 1


def test_failed_run_without_message_takes_its_last_failing_steps() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", status="ERROR", end=500),
            facts(2, 1, "tool", status="ERROR", error_type="A", error_message="early", end=50),
            facts(3, 1, "tool", status="ERROR", error_type="B", error_message="late", end=90),
        ]
    )
    run = trace.runs[0]
    assert (run.status, run.error_type, run.error_message) == ("FAILED", "B", "late")


def test_failing_step_does_not_fail_a_successful_run() -> None:
    trace = derive_trace(
        [facts(1, None, "agent", status="OK"), facts(2, 1, "tool", status="ERROR")]
    )
    run = trace.runs[0]
    assert (run.status, run.error_message, run.failed_step_count) == ("SUCCESS", None, 1)


# --- tokens and models ------------------------------------------------------------------


def test_run_tokens_are_the_sum_of_its_own_llm_steps() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", input_tokens=999, output_tokens=999),
            facts(2, 1, "llm", model="b", input_tokens=10, output_tokens=1),
            facts(3, 1, "llm", model="a", input_tokens=20, output_tokens=2, total_tokens=25),
            facts(4, 1, "tool"),
            facts(5, 4, "agent", input_tokens=7, output_tokens=7),
            facts(6, 5, "llm", model="c", input_tokens=7, output_tokens=7),
            facts(7, 1, "embedding", model="e", input_tokens=1000),
        ]
    )
    parent, child = run_of(trace, 1), run_of(trace, 5)
    assert (parent.input_tokens, parent.output_tokens, parent.total_tokens) == (30, 3, 36)
    assert parent.models == ["a", "b"]
    assert (child.input_tokens, child.output_tokens, child.total_tokens) == (7, 7, 14)
    assert child.models == ["c"]
    step_totals = {s.span_id: s.total_tokens for s in trace.steps}
    assert (step_totals[sid(2)], step_totals[sid(3)]) == (11, 25)


def test_agent_span_totals_are_used_when_no_llm_step_reports_tokens() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", input_tokens=40, output_tokens=2, model="m"),
            facts(2, 1, "tool"),
            facts(3, 1, "llm"),
        ]
    )
    run = trace.runs[0]
    assert (run.input_tokens, run.output_tokens, run.total_tokens) == (40, 2, 42)
    assert run.models == ["m"]


def test_llm_call_nested_in_an_llm_call_is_counted_once() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent"),
            facts(2, 1, "llm", model="m", input_tokens=10, output_tokens=5),
            facts(3, 2, "llm", model="m", input_tokens=10, output_tokens=5),
            facts(4, 1, "llm", model="m"),
            facts(5, 4, "llm", model="m", input_tokens=1, output_tokens=1),
        ]
    )
    run = trace.runs[0]
    assert (run.input_tokens, run.output_tokens) == (11, 6)
    assert (run.llm_call_count, run.step_count) == (2, 4)


def test_run_without_tokens_has_zero_totals() -> None:
    trace = derive_trace([facts(1, None, "agent"), facts(2, 1, "tool")])
    run = trace.runs[0]
    assert (run.input_tokens, run.output_tokens, run.total_tokens, run.models) == (0, 0, 0, [])


# --- run context ------------------------------------------------------------------------


def test_run_takes_session_user_and_io_from_its_span_else_its_steps() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", input="q", output="a", agent_id="id-1", agent_version="3"),
            facts(2, 1, "llm", session_id="s", user_id="u", start=30),
            facts(3, 1, "llm", session_id="other", start=40),
        ]
    )
    run = trace.runs[0]
    assert (run.input, run.output, run.session_id, run.user_id) == ("q", "a", "s", "u")
    assert (run.agent_id, run.agent_version, run.service_name) == ("id-1", "3", "svc")


def test_agent_without_a_name_is_named_after_its_service() -> None:
    trace = derive_trace([facts(1, None, "agent", agent_name=None, service_name="bot")])
    assert trace.runs[0].agent_name == "bot"


# --- metrics ----------------------------------------------------------------------------


def test_run_metrics() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", start=0, end=3_000_000),
            facts(2, 1, "llm", input_tokens=5, output_tokens=1),
            facts(3, 1, "tool", tool_name="b", status="ERROR"),
            facts(4, 1, "tool", tool_name="a", status="ERROR"),
            facts(5, 1, "tool", tool_name="b", status="ERROR"),
            facts(6, 1, "tool", tool_name="c"),
        ]
    )
    rows = [m for m in trace.metrics if m.run_id == rid(1)]
    assert [(m.name, m.value, m.tags) for m in rows] == [
        ("duration_ms", 3.0, {}),
        ("input_tokens", 5.0, {}),
        ("output_tokens", 1.0, {}),
        ("total_tokens", 6.0, {}),
        ("step_count", 5.0, {}),
        ("tool_call_count", 4.0, {}),
        ("llm_call_count", 1.0, {}),
        ("failed_step_count", 3.0, {}),
        ("tool_failures", 1.0, {"tool": "a"}),
        ("tool_failures", 2.0, {"tool": "b"}),
    ]
    assert all(isinstance(m, Metric) and m.trace_id == TRACE for m in rows)


def test_usage_metrics_sum_steps_and_fall_back_to_the_agent_span() -> None:
    trace = derive_trace(
        [
            facts(
                1,
                None,
                "agent",
                usage={"gen_ai.usage.input_tokens": 30, "gen_ai.aggregated_usage.input_tokens": 30},
            ),
            facts(2, 1, "llm", usage={"gen_ai.usage.input_tokens": 10, "llm.cost": 0.5}),
            facts(3, 1, "task", usage={"gen_ai.usage.input_tokens": 20}),
            facts(4, 3, "llm", usage={"gen_ai.usage.input_tokens": 20}),
            facts(5, 1, "agent", usage={"gen_ai.usage.input_tokens": 1000}),
        ]
    )
    metrics = metrics_of(trace, 1)
    assert metrics["gen_ai.usage.input_tokens"] == 30  # 10 + the task's 20 (its LLM inside)
    assert metrics["gen_ai.aggregated_usage.input_tokens"] == 30
    assert metrics["llm.cost"] == 0.5
    assert metrics_of(trace, 5)["gen_ai.usage.input_tokens"] == 1000


# --- agents -----------------------------------------------------------------------------


def test_one_agent_seen_per_name() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", agent_name="b", start=0, end=100),
            facts(2, 1, "agent", agent_name="a", start=10, end=20),
            facts(3, 1, "agent", agent_name="a", start=30, end=40, agent_version="2"),
        ]
    )
    assert [(a.name, a.version, a.first_seen_ns, a.last_seen_ns) for a in trace.agents] == [
        ("a", "2", 10, 40),
        ("b", None, 0, 100),
    ]


# --- artifacts --------------------------------------------------------------------------


def test_artifacts_belong_to_the_run_and_step_of_their_span() -> None:
    boom = ArtifactFacts(type="exception", name="E", content="boom", time_ns=5)
    trace = derive_trace(
        [
            facts(1, None, "plain", artifacts=[boom]),  # above every run: dropped
            facts(2, 1, "agent", artifacts=[boom]),
            facts(3, 2, "tool", artifacts=[boom, ArtifactFacts(type="document", url="u")]),
            facts(4, 3, "plain", artifacts=[boom]),
            facts(5, 2, "plain", artifacts=[boom]),
        ]
    )
    assert [(a.id, a.run_id, a.step_id, a.type) for a in trace.artifacts] == [
        (f"{rid(2)}:0", rid(2), None, "exception"),
        (f"{rid(3)}:0", rid(2), rid(3), "exception"),
        (f"{rid(3)}:1", rid(2), rid(3), "document"),
        (f"{rid(4)}:0", rid(2), rid(3), "exception"),
        (f"{rid(5)}:0", rid(2), None, "exception"),
    ]
    assert trace.artifacts[2].url == "u"
    assert (trace.artifacts[0].content, trace.artifacts[0].time_ns) == ("boom", 5)


def test_placeholder_hint_comes_from_its_calls_not_its_sub_agents() -> None:
    trace = derive_trace(
        [
            facts(3, 1, "agent", agent_name="child", agent_name_hint="child", start=5),
            facts(4, 1, "tool", agent_name_hint="parent", start=9),
        ]
    )
    assert run_of(trace, 1).agent_name == "parent"


def test_a_cycle_of_parents_is_rooted_at_its_first_span() -> None:
    """Spans whose parent links loop are still mapped: the span of the cycle that started
    first is read as the root, as if its parent link were absent."""
    trace = derive_trace([facts(1, 2, "tool"), facts(2, 1, "agent"), facts(4, 2, "llm")])
    assert [(r.span_id, r.parent_run_id) for r in trace.runs] == [
        (sid(1), None),
        (sid(2), rid(1)),
    ]
    assert [(s.kind, s.span_id) for s in steps_of(trace, 1)] == [
        ("tool", sid(1)),
        ("agent", sid(2)),
    ]
    assert [s.span_id for s in steps_of(trace, 2)] == [sid(4)]
    assert all(r.orphan_span_count == 0 for r in trace.runs)


def test_a_span_that_is_its_own_parent_is_a_root() -> None:
    trace = derive_trace([facts(3, 3, "agent"), facts(4, 3, "tool")])
    [run] = trace.runs
    assert (run.span_id, run.parent_run_id, run.status) == (sid(3), None, "SUCCESS")
    assert [s.span_id for s in steps_of(trace, 3)] == [sid(4)]


def test_the_cycle_breaker_depends_on_the_spans_not_their_order() -> None:
    cycle = [facts(5, 7, "agent", start=30), facts(6, 5, "agent", start=10), facts(7, 6, "tool")]
    expected = derive_trace(cycle)
    assert [r.span_id for r in expected.runs if r.parent_run_id is None] == [sid(6)]
    assert derive_trace(cycle[::-1]) == expected
    assert derive_trace([cycle[1], cycle[2], cycle[0]]) == expected


def test_a_tree_below_a_cycle_is_mapped_with_it() -> None:
    trace = derive_trace(
        [facts(1, 2, "agent"), facts(2, 1, "plain"), facts(3, 2, "plain"), facts(4, 3, "tool")]
    )
    assert [r.span_id for r in trace.runs] == [sid(1)]
    assert [s.span_id for s in steps_of(trace, 1)] == [sid(4)]


def test_spans_of_two_traces_are_refused() -> None:
    other = facts(2, None, "agent")
    other.trace_id = "f" * 32
    with pytest.raises(ValueError, match="one trace"):
        derive_trace([facts(1, None, "agent"), other])


# --- what a person reads: the run's input and output ------------------------------------

CHAT_INPUT = '[{"role": "system", "content": "be brief"}, {"role": "user", "content": "Paris?"}]'


def test_a_run_without_io_reads_its_first_and_last_llm_calls() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent"),
            facts(2, 1, "llm", input=CHAT_INPUT, input_source="input.value", output="[]"),
            facts(3, 1, "tool"),
            facts(
                4,
                1,
                "llm",
                input="[]",
                output='[{"role": "assistant", "content": "Sunny."}]',
                output_source="output.value",
            ),
        ]
    )
    run = run_of(trace, 1)
    assert (run.input, run.output) == ("Paris?", "Sunny.")
    assert (run.input_source, run.output_source) == (
        f"{sid(2)}/input.value",
        f"{sid(4)}/output.value",
    )
    assert (run.input_truncated, run.output_truncated) == (False, False)


def test_a_runs_own_io_wins_over_its_llm_calls() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", input="asked", input_source="input.value"),
            facts(2, 1, "llm", input=CHAT_INPUT, output='[{"role": "assistant", "content": "x"}]'),
        ]
    )
    run = run_of(trace, 1)
    assert (run.input, run.input_source) == ("asked", f"{sid(1)}/input.value")
    assert run.output == "x"


def test_a_run_whose_last_llm_call_called_a_tool_has_no_output() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent"),
            facts(2, 1, "llm", output='[{"role": "assistant", "content": "Looking."}]'),
            facts(3, 1, "llm", output='[{"role": "assistant", "tool_calls": [{"id": "c"}]}]'),
        ]
    )
    assert (run_of(trace, 1).output, run_of(trace, 1).output_source) == (None, None)


def test_the_io_of_a_sub_agents_llm_calls_is_not_the_parents() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent"),
            facts(2, 1, "agent"),
            facts(3, 2, "llm", input=CHAT_INPUT, output='[{"role": "assistant", "content": "a"}]'),
        ]
    )
    assert (run_of(trace, 1).input, run_of(trace, 1).output) == (None, None)
    assert (run_of(trace, 2).input, run_of(trace, 2).output) == ("Paris?", "a")


# --- cache and reasoning tokens ---------------------------------------------------------


def test_cache_and_reasoning_tokens_per_step_and_summed_per_run_once() -> None:
    tokens = {"input_tokens": 100, "output_tokens": 10}
    trace = derive_trace(
        [
            facts(1, None, "agent", cache_read_input_tokens=999, reasoning_output_tokens=999),
            facts(2, 1, "llm", **tokens, cache_read_input_tokens=60, reasoning_output_tokens=5),
            # the same call recorded again by a second instrumentation: not counted twice
            facts(3, 2, "llm", **tokens, cache_read_input_tokens=60, reasoning_output_tokens=5),
            facts(4, 1, "llm", **tokens, cache_write_input_tokens=20),
        ]
    )
    run = run_of(trace, 1)
    assert (
        run.cache_read_input_tokens,
        run.cache_write_input_tokens,
        run.reasoning_output_tokens,
    ) == (60, 20, 5)
    assert (run.input_tokens, run.output_tokens) == (200, 20)
    step = steps_of(trace, 1)[0]
    assert (
        step.cache_read_input_tokens,
        step.cache_write_input_tokens,
        step.reasoning_output_tokens,
    ) == (
        60,
        None,
        5,
    )


def test_a_runs_own_cache_tokens_count_when_no_llm_call_reports_tokens() -> None:
    trace = derive_trace(
        [
            facts(
                1,
                None,
                "agent",
                input_tokens=50,
                cache_read_input_tokens=30,
                reasoning_output_tokens=4,
            ),
            facts(2, 1, "llm"),
        ]
    )
    run = run_of(trace, 1)
    assert (run.input_tokens, run.cache_read_input_tokens, run.reasoning_output_tokens) == (
        50,
        30,
        4,
    )


# --- sub-agents and agent identity ------------------------------------------------------


def test_a_sub_agent_step_names_the_agent_it_called() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", agent_name="triage"),
            facts(2, 1, "tool", tool_name="ask_weather"),
            facts(3, 2, "agent", agent_name=None, service_name="weather-svc"),
        ]
    )
    agent_step = next(s for s in steps_of(trace, 1) if s.kind == "agent")
    assert (agent_step.agent_name, agent_step.child_run_id) == ("weather-svc", rid(3))
    assert all(s.agent_name is None for s in trace.steps if s.kind != "agent")


def test_an_agent_without_an_id_gets_a_stable_one_from_its_name() -> None:
    first = derive_trace([facts(1, None, "agent", agent_name="planner")]).runs[0]
    again = derive_trace([facts(9, None, "agent", agent_name="planner")]).runs[0]
    other = derive_trace([facts(1, None, "agent", agent_name="writer")]).runs[0]
    assert first.agent_id == again.agent_id != other.agent_id
    assert first.agent_id == str(uuid.uuid5(AGENT_ID_NAMESPACE, "planner"))


def test_an_agent_id_from_the_spans_wins_over_the_derived_one() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", agent_name="planner", start=0),
            facts(2, 1, "agent", agent_name="planner", agent_id="asst_1", start=5),
        ]
    )
    assert run_of(trace, 2).agent_id == "asst_1"
    [agent] = trace.agents
    assert (agent.name, agent.agent_id) == ("planner", "asst_1")


def test_a_root_standing_in_for_an_agent_is_named_after_the_agent_its_spans_name() -> None:
    trace = derive_trace(
        [
            facts(1, None, "plain", service_name="my-service"),
            facts(2, 1, "llm", agent_name_hint="weather-agent"),
        ]
    )
    assert run_of(trace, 1).agent_name == "weather-agent"


# --- bounded identifiers ----------------------------------------------------------------


def test_cut_fields_are_named_on_runs_and_steps() -> None:
    trace = derive_trace(
        [
            facts(1, None, "agent", truncated_fields=("agent_name", "name", "session_id")),
            facts(2, 1, "tool", session_id="s", truncated_fields=("tool_name", "input")),
            facts(3, 1, "agent", truncated_fields=("agent_name",)),
        ]
    )
    assert run_of(trace, 1).truncated_fields == ("agent_name", "name")
    tool_step, agent_step = steps_of(trace, 1)
    assert tool_step.truncated_fields == ("tool_name", "input", "name")
    assert agent_step.truncated_fields == ("agent_name",)
