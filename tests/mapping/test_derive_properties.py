"""Property tests: derive_trace is a function of the set of span facts."""

from __future__ import annotations

from collections import Counter
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from mapping import derive_trace
from mapping.model import STEP_CATEGORIES, ArtifactFacts, DerivedTrace, SpanFacts, make_id
from tests.mapping.builders import facts
from tests.mapping.otlp import scenario_dirs, scenario_facts

CATEGORIES = ["agent", "agent", "tool", "llm", "llm", "plain", "plain", "container", "task"]
CATEGORIES += ["embedding", "retriever"]


@st.composite
def generated_traces(draw: st.DrawFn) -> list[SpanFacts]:
    """Trees of nested agents, deep plain chains and duplicated start times, with spans
    missing (not arrived yet) so that parts of the tree are orphans."""
    size = draw(st.integers(min_value=1, max_value=30))
    numbers = draw(st.permutations(range(1, size + 1)))  # span ids unrelated to tree order
    spans = []
    for position in range(size):
        parent_position = None
        if position > 0:
            parent_position = draw(
                st.one_of(
                    st.just(position - 1),  # deep chains
                    st.integers(min_value=0, max_value=position - 1),
                    st.none(),
                )
            )
        category = draw(st.sampled_from(CATEGORIES))
        tokens = draw(st.none() | st.integers(min_value=0, max_value=50))
        spans.append(
            facts(
                numbers[position],
                numbers[parent_position] if parent_position is not None else None,
                category,
                start=draw(st.integers(min_value=0, max_value=4)) * 10,
                status=draw(st.sampled_from(["UNSET", "OK", "ERROR"])),
                agent_name=draw(st.sampled_from(["a", "b", None])) if category == "agent" else None,
                agent_name_hint=draw(st.sampled_from(["a", "b", None])),
                model=draw(st.sampled_from(["m1", "m2", None])),
                input_tokens=tokens,
                output_tokens=tokens,
                usage={"gen_ai.usage.input_tokens": tokens} if tokens is not None else {},
                artifacts=[ArtifactFacts(type="event")] if draw(st.booleans()) else [],
            )
        )
    missing = draw(st.sets(st.sampled_from(range(size)), max_size=size // 3))
    return [span for position, span in enumerate(spans) if position not in missing]


@cache
def fixture_traces() -> tuple[tuple[SpanFacts, ...], ...]:
    traces: list[tuple[SpanFacts, ...]] = []
    for scenario in scenario_dirs():
        by_trace: dict[str, list[SpanFacts]] = {}
        for f in scenario_facts(scenario):
            by_trace.setdefault(f.trace_id, []).append(f)
        traces.extend(tuple(group) for group in by_trace.values())
    return tuple(traces)


traces = generated_traces() | st.sampled_from(fixture_traces()).map(list)


def assert_consistent(facts_set: list[SpanFacts], trace: DerivedTrace) -> None:
    by_id = {f.span_id: f for f in facts_set}
    run_ids = [run.id for run in trace.runs]
    assert len(set(run_ids)) == len(run_ids)
    assert [(r.start_ns, r.span_id) for r in trace.runs] == sorted(
        (r.start_ns, r.span_id) for r in trace.runs
    )
    for run in trace.runs:
        assert run.parent_run_id is None or run.parent_run_id in run_ids
        assert (run.status == "RUNNING") == (run.span_id not in by_id)
        steps = [s for s in trace.steps if s.run_id == run.id]
        assert [s.index for s in steps] == list(range(len(steps)))
        assert run.step_count == len(steps)
    agent_spans = {f.span_id for f in facts_set if f.category == "agent"}
    assert agent_spans <= {run.span_id for run in trace.runs}
    call_steps = Counter(s.span_id for s in trace.steps if s.kind != "agent")
    assert call_steps == Counter(f.span_id for f in facts_set if f.category in STEP_CATEGORIES)
    for step in trace.steps:
        if step.kind == "agent":
            child = next(r for r in trace.runs if r.id == step.child_run_id)
            assert child.parent_run_id == step.run_id


@settings(max_examples=300, deadline=None)
@given(traces, st.randoms(use_true_random=False))
def test_any_order_gives_the_same_result(facts_set: list[SpanFacts], rng: object) -> None:
    expected = derive_trace(facts_set)
    shuffled = facts_set[:]
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert derive_trace(shuffled) == expected
    assert derive_trace(iter(shuffled)) == expected
    assert_consistent(facts_set, expected)


@settings(deadline=None)
@given(traces, st.data())
def test_splits_and_duplicate_deliveries_give_the_same_result(
    facts_set: list[SpanFacts], data: st.DataObject
) -> None:
    """What a store accumulates from batches delivered in any order, some twice."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(facts_set)), max_size=4)))
    batches = [facts_set[a:b] for a, b in zip([0, *cuts], [*cuts, len(facts_set)], strict=True)]
    order = data.draw(st.permutations(range(len(batches))))
    repeated = data.draw(st.lists(st.sampled_from(range(len(batches))), max_size=3))
    stored: dict[str, SpanFacts] = {}
    for index in [*order, *repeated]:
        for f in batches[index]:
            stored[f.span_id] = f
    assert derive_trace(stored.values()) == derive_trace(facts_set)


@settings(deadline=None)
@given(traces, st.data())
def test_removing_a_parent_then_adding_it_back_gives_the_whole(
    facts_set: list[SpanFacts], data: st.DataObject
) -> None:
    whole = derive_trace(facts_set)
    parent = data.draw(st.sampled_from(facts_set))
    without = [f for f in facts_set if f.span_id != parent.span_id]
    partial = derive_trace(without)
    assert_consistent(without, partial)
    assert derive_trace([*without, parent]) == whole


@settings(deadline=None)
@given(traces, st.data())
def test_an_agent_not_yet_arrived_is_a_placeholder_with_the_same_id_and_steps(
    facts_set: list[SpanFacts], data: st.DataObject
) -> None:
    agents = [f for f in facts_set if f.category == "agent"]
    if not agents:
        return
    agent = data.draw(st.sampled_from(agents))
    run_id = make_id(agent.trace_id, agent.span_id)
    whole = derive_trace(facts_set)
    steps = [s for s in whole.steps if s.run_id == run_id]
    partial = derive_trace([f for f in facts_set if f.span_id != agent.span_id])
    placeholder = [r for r in partial.runs if r.id == run_id]
    remaining = [f for f in facts_set if f.span_id != agent.span_id]
    if not any(s.kind != "agent" for s in steps):
        if any(f.category == "agent" for f in remaining):
            assert placeholder == []  # its steps are all sub-agents: they stand on their own
        else:  # no agent span left: the missing agent may stand as the top of that trace
            assert all((r.status, r.end_ns) == ("RUNNING", None) for r in placeholder)
        return
    [run] = placeholder
    assert (run.status, run.end_ns) == ("RUNNING", None)
    assert [s for s in partial.steps if s.run_id == run_id] == steps
    children = [r.id for r in whole.runs if r.parent_run_id == run_id]
    assert [r.id for r in partial.runs if r.parent_run_id == run_id] == children


def test_generated_traces_cover_the_interesting_shapes() -> None:
    """The generator reaches placeholders, fallback runs, nested runs and deep chains."""
    seen: set[str] = set()

    @settings(max_examples=200, database=None, deadline=None)
    @given(generated_traces())
    def observe(facts_set: list[SpanFacts]) -> None:
        trace = derive_trace(facts_set)
        by_id = {f.span_id: f for f in facts_set}
        for run in trace.runs:
            if run.span_id not in by_id:
                seen.add("placeholder")
            elif by_id[run.span_id].category != "agent":
                seen.add("fallback")
            if run.parent_run_id is not None:
                seen.add("nested")
        for f in facts_set:
            depth, parent = 0, f.parent_span_id
            while parent in by_id:
                depth, parent = depth + 1, by_id[parent].parent_span_id
            if depth >= 6:
                seen.add("deep")

    observe()
    assert seen == {"placeholder", "fallback", "nested", "deep"}


def test_fixture_traces_are_available() -> None:
    assert fixture_traces(), "no fixture scenarios found under tests/fixtures"
