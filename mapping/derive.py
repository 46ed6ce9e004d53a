"""``derive_trace``: the runs, steps, artifacts, metrics and agents of one trace.

A pure function of the set of the trace's span facts: every list is sorted by keys taken
from the facts themselves, so any arrival order, split or duplicate delivery of the same set
gives the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mapping.model import (
    AgentSeen,
    Artifact,
    DerivedTrace,
    Run,
    RunStatus,
    SpanFacts,
    Step,
    StepKind,
    make_id,
)
from mapping.run_metrics import run_metrics
from mapping.run_tree import Anchor, RunTree, StepNode, build_run_tree

UNKNOWN_AGENT = "unknown"
"""The agent name of a placeholder run when no span of it names an agent or a service."""


def _order(span: SpanFacts) -> tuple[int, str]:
    return span.start_ns, span.span_id


def _reports_tokens(facts: SpanFacts) -> bool:
    return (
        facts.input_tokens is not None
        or facts.output_tokens is not None
        or facts.total_tokens is not None
    )


def _total_of(facts: SpanFacts) -> int | None:
    """The reported total, else input + output when either is reported."""
    if facts.total_tokens is not None:
        return facts.total_tokens
    if facts.input_tokens is None and facts.output_tokens is None:
        return None
    return (facts.input_tokens or 0) + (facts.output_tokens or 0)


def _is_llm(facts: SpanFacts) -> bool:
    return facts.category == "llm"


def _is_llm_with_tokens(facts: SpanFacts) -> bool:
    return facts.category == "llm" and _reports_tokens(facts)


class RunSteps:
    """The steps of one run in index order, and how they nest within the run."""

    def __init__(self, anchor: Anchor) -> None:
        self.nodes = sorted(anchor.steps, key=lambda node: _order(node.facts))
        self._by_span_id = {node.facts.span_id: node for node in self.nodes}

    def _below(self, predicate: Callable[[SpanFacts], bool]) -> set[str]:
        """Span ids of the steps below a step (of this run) that satisfies ``predicate``.

        Each step is walked once: a chain walked up stops at a step already decided.
        """
        decided: dict[str, bool] = {}
        for node in self.nodes:
            chain = []
            current = node
            while True:
                span_id = current.facts.span_id
                if span_id in decided:
                    below = decided[span_id]
                    break
                chain.append(span_id)
                parent_id = current.parent_step_span_id
                if parent_id is None:
                    below = False
                    break
                current = self._by_span_id[parent_id]
                if predicate(current.facts):
                    below = True
                    break
            for span_id in chain:
                decided[span_id] = below
        return {span_id for span_id, below in decided.items() if below}

    def own_calls(self) -> list[StepNode]:
        """The run's steps other than sub-agent steps."""
        return [node for node in self.nodes if node.child_run_key is None]

    def llm_calls(self) -> list[StepNode]:
        """LLM steps, except those nested in another LLM step: two instrumentations (say a
        framework's and the provider SDK's) recording one call are counted once."""
        nested = self._below(_is_llm)
        return [
            node
            for node in self.own_calls()
            if node.facts.category == "llm" and node.facts.span_id not in nested
        ]

    def token_reporting_llm_steps(self) -> list[SpanFacts]:
        """LLM steps whose tokens count: they report tokens and no LLM step above them does."""
        nested = self._below(_is_llm_with_tokens)
        return [
            node.facts
            for node in self.own_calls()
            if _is_llm_with_tokens(node.facts) and node.facts.span_id not in nested
        ]

    def usage_totals(self) -> dict[str, float]:
        """Each usage attribute summed over the run's own steps, skipping a step when a step
        above it reports the same attribute (the outer one already includes it)."""
        calls = self.own_calls()
        keys = sorted({key for node in calls for key in node.facts.usage})
        totals: dict[str, float] = {}
        for key in keys:
            nested = self._below(lambda f, key=key: key in f.usage)  # type: ignore[misc]
            values = [
                node.facts.usage[key]
                for node in calls
                if key in node.facts.usage and node.facts.span_id not in nested
            ]
            totals[key] = sum(values)
        return totals


def _first_of_steps(nodes: list[StepNode], attribute: str) -> str | None:
    for node in nodes:
        value = getattr(node.facts, attribute)
        if value is not None:
            return str(value)
    return None


_OPEN_STATUSES = frozenset({"PENDING", "RUNNING"})


def _status(anchor: Anchor) -> RunStatus:
    facts = anchor.facts
    if facts is None:
        return "RUNNING"
    if facts.declared_status is not None and anchor.kind == "agent":
        return facts.declared_status  # type: ignore[return-value]
    return "FAILED" if facts.status == "ERROR" else "SUCCESS"


def _step_is_open(f: SpanFacts) -> bool:
    return f.declared_status == "RUNNING"


def _agent_name(anchor: Anchor, steps: list[StepNode]) -> str:
    facts = anchor.facts
    if facts is not None and anchor.kind == "agent":
        return facts.agent_name or facts.service_name or facts.name
    if facts is not None:  # the trace root standing in for an agent
        return facts.service_name or facts.agent_name_hint or facts.name
    calls = [node for node in steps if node.child_run_key is None]  # sub-agents name themselves
    hint = _first_of_steps(calls, "agent_name_hint") or _first_of_steps(steps, "service_name")
    return hint or UNKNOWN_AGENT


def _tokens(anchor: Anchor, steps: RunSteps) -> tuple[int, int, int]:
    counted = steps.token_reporting_llm_steps()
    if not counted and anchor.facts is not None and _reports_tokens(anchor.facts):
        counted = [anchor.facts]
    return (
        sum(f.input_tokens or 0 for f in counted),
        sum(f.output_tokens or 0 for f in counted),
        sum(_total_of(f) or 0 for f in counted),
    )


def _models(anchor: Anchor, steps: RunSteps) -> list[str]:
    models = {n.facts.model for n in steps.own_calls() if _is_llm(n.facts) and n.facts.model}
    if not models and anchor.facts is not None and anchor.facts.model:
        models = {anchor.facts.model}
    return sorted(models)


def _step(trace_id: str, run_id: str, index: int, node: StepNode) -> Step:
    f = node.facts
    kind: StepKind = "agent" if node.child_run_key is not None else f.category  # type: ignore[assignment]
    is_call = kind != "agent"
    if kind == "tool":
        name = f.tool_name or f.name
    elif kind == "llm":
        name = f.model or f.name
    else:
        name = f.name
    return Step(
        id=make_id(trace_id, f.span_id),
        run_id=run_id,
        trace_id=trace_id,
        span_id=f.span_id,
        index=index,
        kind=kind,
        name=name,
        tool_name=f.tool_name if kind == "tool" else None,
        model=f.model if is_call else None,
        status="RUNNING" if _step_is_open(f) else ("FAILED" if f.status == "ERROR" else "SUCCESS"),
        input=f.input,
        input_truncated=f.input_truncated,
        output=f.output,
        output_truncated=f.output_truncated,
        error_type=f.error_type,
        error_message=f.error_message,
        start_ns=f.start_ns,
        end_ns=None if _step_is_open(f) else f.end_ns,
        input_tokens=f.input_tokens if is_call else None,
        output_tokens=f.output_tokens if is_call else None,
        total_tokens=_total_of(f) if is_call else None,
        parent_step_id=(
            make_id(trace_id, node.parent_step_span_id) if node.parent_step_span_id else None
        ),
        child_run_id=make_id(trace_id, node.child_run_key) if node.child_run_key else None,
    )


def _orphan_count(tree: RunTree, anchor: Anchor) -> int:
    spans = tree.spans
    return sum(
        1
        for member in anchor.members
        if member.facts.parent_span_id is not None and member.facts.parent_span_id not in spans
    )


def _run(tree: RunTree, trace_id: str, anchor: Anchor, steps: list[Step], rs: RunSteps) -> Run:
    span = anchor.facts  # None for a placeholder
    agent = span if anchor.kind == "agent" else None
    status = _status(anchor)
    error_type = span.error_type if span else None
    error_message = span.error_message if span else None
    failed_steps = [node.facts for node in rs.nodes if node.facts.status == "ERROR"]
    if status == "FAILED" and error_message is None and failed_steps:
        failing = max(failed_steps, key=lambda f: (f.end_ns, f.span_id))
        error_message = failing.error_message
        error_type = error_type or failing.error_type
    input_tokens, output_tokens, total_tokens = _tokens(anchor, rs)
    agent_name = _agent_name(anchor, rs.nodes)
    return Run(
        id=make_id(trace_id, anchor.key),
        trace_id=trace_id,
        span_id=anchor.key,
        parent_run_id=make_id(trace_id, anchor.parent_key) if anchor.parent_key else None,
        name=span.name if span else agent_name,
        agent_name=agent_name,
        agent_id=agent.agent_id if agent else None,
        agent_version=agent.agent_version if agent else None,
        agent_description=agent.agent_description if agent else None,
        status=status,
        input=span.input if span else None,
        input_truncated=span.input_truncated if span else False,
        output=span.output if span else None,
        output_truncated=span.output_truncated if span else False,
        error_type=error_type,
        error_message=error_message,
        start_ns=span.start_ns if span else min(m.facts.start_ns for m in anchor.members),
        end_ns=span.end_ns if span and status not in _OPEN_STATUSES else None,
        models=_models(anchor, rs),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens,
        step_count=len(steps),
        tool_call_count=sum(1 for step in steps if step.kind == "tool"),
        llm_call_count=len(rs.llm_calls()),
        failed_step_count=len(failed_steps),
        orphan_span_count=_orphan_count(tree, anchor),
        session_id=(span and span.session_id) or _first_of_steps(rs.nodes, "session_id"),
        user_id=(span and span.user_id) or _first_of_steps(rs.nodes, "user_id"),
        service_name=(span and span.service_name) or _first_of_steps(rs.nodes, "service_name"),
        handoff_from_agent=agent.handoff_from_agent if agent else None,
    )


def _artifacts(trace_id: str, run_id: str, anchor: Anchor) -> list[Artifact]:
    artifacts = []
    for member in sorted(anchor.members, key=lambda m: _order(m.facts)):
        f = member.facts
        span_ref = make_id(trace_id, f.span_id)
        step_id = make_id(trace_id, member.step_span_id) if member.step_span_id else None
        for n, a in enumerate(f.artifacts):
            artifacts.append(
                Artifact(
                    id=f"{span_ref}:{n}",
                    run_id=run_id,
                    step_id=step_id,
                    trace_id=trace_id,
                    span_id=f.span_id,
                    type=a.type,
                    name=a.name,
                    content=a.content,
                    url=a.url,
                    time_ns=a.time_ns,
                    truncated=a.truncated,
                )
            )
    return artifacts


def _agents(runs: list[Run]) -> list[AgentSeen]:
    seen: dict[str, AgentSeen] = {}
    for run in runs:  # runs are in start order: the first run with a value provides it
        last = run.end_ns if run.end_ns is not None else run.start_ns
        agent = seen.get(run.agent_name)
        if agent is None:
            seen[run.agent_name] = AgentSeen(
                name=run.agent_name,
                agent_id=run.agent_id,
                version=run.agent_version,
                description=run.agent_description,
                first_seen_ns=run.start_ns,
                last_seen_ns=last,
            )
            continue
        agent.agent_id = agent.agent_id or run.agent_id
        agent.version = agent.version or run.agent_version
        agent.description = agent.description or run.agent_description
        agent.first_seen_ns = min(agent.first_seen_ns, run.start_ns)
        agent.last_seen_ns = max(agent.last_seen_ns, last)
    return [seen[name] for name in sorted(seen)]


def derive_trace(facts: Iterable[SpanFacts]) -> DerivedTrace:
    """The runs, steps, artifacts, metrics and agents of one trace's span facts.

    ``facts`` are the spans of one trace (else ValueError), with unique span ids; no facts
    give an empty ``DerivedTrace`` with trace id "". Lists are ordered: runs by (start, span
    id); steps, artifacts and metrics grouped by run in run order, steps by index, artifacts
    by their span's (start, span id) then position; agents by name.
    """
    tree = build_run_tree(facts)
    trace_ids = {f.trace_id for f in tree.spans.values()}
    if len(trace_ids) > 1:
        raise ValueError(f"derive_trace takes the spans of one trace, got {len(trace_ids)}")
    if not trace_ids:
        return DerivedTrace(trace_id="")
    trace_id = trace_ids.pop()
    derived = DerivedTrace(trace_id=trace_id)
    built = []
    for anchor in tree.anchors.values():
        run_id = make_id(trace_id, anchor.key)
        rs = RunSteps(anchor)
        steps = [_step(trace_id, run_id, i, node) for i, node in enumerate(rs.nodes)]
        run = _run(tree, trace_id, anchor, steps, rs)
        built.append((run, steps, anchor, rs))
    built.sort(key=lambda item: (item[0].start_ns, item[0].span_id))
    for run, steps, anchor, rs in built:
        derived.runs.append(run)
        derived.steps.extend(steps)
        derived.artifacts.extend(_artifacts(trace_id, run.id, anchor))
        derived.metrics.extend(run_metrics(run, steps, anchor.facts, rs.usage_totals()))
    derived.agents = _agents(derived.runs)
    return derived
