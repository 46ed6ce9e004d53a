"""``derive_trace``: the runs, steps, artifacts, metrics and agents of one trace.

A pure function of the set of the trace's span facts: every list is sorted by keys taken
from the facts themselves, so any arrival order, split or duplicate delivery of the same set
gives the same result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from functools import lru_cache

from mapping.model import (
    AgentSeen,
    Artifact,
    DerivedTrace,
    Run,
    RunStatus,
    Score,
    ScoreFacts,
    SpanFacts,
    Step,
    StepKind,
    make_id,
)
from mapping.registry import call_answer_text, call_request_text
from mapping.run_metrics import run_metrics
from mapping.run_tree import Anchor, RunTree, StepNode, build_run_tree

UNKNOWN_AGENT = "unknown"
"""The agent name of a placeholder run when no span of it names an agent or a service."""

AGENT_ID_NAMESPACE = uuid.UUID("6f1c7a52-3d0e-5b8e-9a41-0c2d7e5f8b13")
"""The namespace of derived agent ids: an agent whose spans carry no id gets
``str(uuid.uuid5(AGENT_ID_NAMESPACE, agent_name))``."""


@lru_cache(maxsize=4096)
def derived_agent_id(agent_name: str) -> str:
    """The stable id of an agent known only by its name: the same on every instance."""
    return str(uuid.uuid5(AGENT_ID_NAMESPACE, agent_name))


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
        self._llm_calls: list[StepNode] | None = None

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
        if self._llm_calls is None:
            nested = self._below(_is_llm)
            self._llm_calls = [
                node
                for node in self.own_calls()
                if node.facts.category == "llm" and node.facts.span_id not in nested
            ]
        return self._llm_calls

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


Named = tuple[str, bool]  # a name, and whether it was cut to its bound


def _named(facts: SpanFacts | None, field: str) -> Named | None:
    value = getattr(facts, field) if facts is not None else None
    if value is None:
        return None
    return value, field in facts.truncated_fields  # type: ignore[union-attr]


def _first_named(nodes: list[StepNode], field: str) -> Named | None:
    for node in nodes:
        named = _named(node.facts, field)
        if named is not None:
            return named
    return None


def _earliest_hint(anchor: Anchor) -> Named | None:
    """The agent name hint of the run's earliest span that has one (its steps and wrappers)."""
    hinted = [m.facts for m in anchor.members if m.facts.agent_name_hint is not None]
    return _named(min(hinted, key=_order), "agent_name_hint") if hinted else None


def _agent_name(anchor: Anchor, steps: list[StepNode]) -> Named:
    """Where the spans name the agent: an agent span's own name, else the earliest name its
    spans mention; for a run standing in for an agent, the agent name its spans inherited.
    The service name only when nothing else names it."""
    facts = anchor.facts
    calls = [node for node in steps if node.child_run_key is None]  # sub-agents name themselves
    if facts is None:  # a placeholder
        candidates = [_first_named(calls, "agent_name_hint"), _first_named(steps, "service_name")]
    elif anchor.kind == "agent":
        candidates = [
            _named(facts, "agent_name"),
            _earliest_hint(anchor),
            _named(facts, "service_name"),
        ]
    else:  # the trace root standing in for an agent
        candidates = [
            _named(facts, "agent_name_hint"),
            _first_named(calls, "agent_name_hint"),
            _named(facts, "service_name"),
        ]
    for named in candidates:
        if named is not None:
            return named
    if facts is None:
        return UNKNOWN_AGENT, False
    return facts.name, "name" in facts.truncated_fields


def _tokens(anchor: Anchor, steps: RunSteps) -> tuple[int, int, int, int, int, int]:
    """Input, output, total, cache read, cache write and reasoning tokens of the run's own LLM
    calls, each call counted once; the run span's own figures when no call reports any."""
    counted = steps.token_reporting_llm_steps()
    if not counted and anchor.facts is not None and _reports_tokens(anchor.facts):
        counted = [anchor.facts]
    inputs = outputs = totals = cache_reads = cache_writes = reasoning = 0
    for f in counted:
        inputs += f.input_tokens or 0
        outputs += f.output_tokens or 0
        totals += _total_of(f) or 0
        cache_reads += f.cache_read_input_tokens or 0
        cache_writes += f.cache_write_input_tokens or 0
        reasoning += f.reasoning_output_tokens or 0
    return inputs, outputs, totals, cache_reads, cache_writes, reasoning


def _models(anchor: Anchor, steps: RunSteps) -> list[str]:
    models = {n.facts.model for n in steps.own_calls() if _is_llm(n.facts) and n.facts.model}
    if not models and anchor.facts is not None and anchor.facts.model:
        models = {anchor.facts.model}
    return sorted(models)


def _cut_fields(f: SpanFacts, fields: dict[str, str]) -> list[str]:
    """The names (keys of ``fields``) of the row fields whose source fact field was cut."""
    cut = f.truncated_fields
    if not cut:
        return []
    return [row_field for row_field, fact_field in fields.items() if fact_field in cut]


_STEP_FIELDS = {
    "tool_name": "tool_name",
    "model": "model",
    "input": "input",
    "output": "output",
    "error_type": "error_type",
    "error_message": "error_message",
}


def _step(
    trace_id: str, run_id: str, index: int, node: StepNode, agent_names: dict[str, Named]
) -> Step:
    f = node.facts
    kind: StepKind = "agent" if node.child_run_key is not None else f.category  # type: ignore[assignment]
    is_call = kind != "agent"
    if kind == "tool":
        name_field = "tool_name" if f.tool_name else "name"
    elif kind == "llm":
        name_field = "model" if f.model else "name"
    else:
        name_field = "name"
    cut = _cut_fields(f, {**_STEP_FIELDS, "name": name_field}) if f.truncated_fields else []
    agent_name = None
    if node.child_run_key is not None:
        agent_name, agent_name_cut = agent_names[node.child_run_key]
        if agent_name_cut:
            cut.append("agent_name")
    return Step(
        id=make_id(trace_id, f.span_id),
        run_id=run_id,
        trace_id=trace_id,
        span_id=f.span_id,
        index=index,
        kind=kind,
        name=getattr(f, name_field),
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
        agent_name=agent_name,
        cache_read_input_tokens=f.cache_read_input_tokens if is_call else None,
        cache_write_input_tokens=f.cache_write_input_tokens if is_call else None,
        reasoning_output_tokens=f.reasoning_output_tokens if is_call else None,
        truncated_fields=tuple(cut),
    )


def _orphan_count(tree: RunTree, anchor: Anchor) -> int:
    spans = tree.spans
    return sum(
        1
        for member in anchor.members
        if member.facts.parent_span_id is not None and member.facts.parent_span_id not in spans
    )


Text = tuple[str | None, bool, str | None]  # text, whether it was cut, where it came from


def _io(
    anchor: Anchor,
    rs: RunSteps,
    field: str,
    extract: Callable[[str | None, str], str | None],
    last: bool,
) -> Text:
    """The run's input (output): its span's, else what a person reads in its first (last)
    LLM call's messages, in the shapes of the call's convention: the last user message (the
    final assistant text)."""
    span = anchor.facts
    if span is not None and getattr(span, field) is not None:
        source = getattr(span, field + "_source")
        return (
            getattr(span, field),
            getattr(span, field + "_truncated"),
            f"{span.span_id}/{source}" if source else span.span_id,
        )
    calls = rs.llm_calls()
    if not calls:
        return None, False, None
    call = calls[-1 if last else 0].facts
    raw = getattr(call, field)
    text = extract(call.convention, raw) if raw is not None else None
    if text is None:
        return None, False, None
    source = getattr(call, field + "_source")
    return text, False, f"{call.span_id}/{source}" if source else call.span_id


_RUN_FIELDS = {
    "name": "name",
    "agent_id": "agent_id",
    "agent_version": "agent_version",
    "agent_description": "agent_description",
    "error_type": "error_type",
    "error_message": "error_message",
    "handoff_from_agent": "handoff_from_agent",
}


def _run(
    tree: RunTree,
    trace_id: str,
    anchor: Anchor,
    steps: list[Step],
    rs: RunSteps,
    agent: Named,
) -> Run:
    span = anchor.facts  # None for a placeholder
    agent_span = span if anchor.kind == "agent" else None
    status = _status(anchor)
    cut = _cut_fields(span, _RUN_FIELDS) if span is not None else []
    error_type = span.error_type if span else None
    error_message = span.error_message if span else None
    failed_steps = [node.facts for node in rs.nodes if node.facts.status == "ERROR"]
    if status == "FAILED" and error_message is None and failed_steps:
        failing = max(failed_steps, key=lambda f: (f.end_ns, f.span_id))
        error_message = failing.error_message
        cut += [field for field in ("error_message",) if field in failing.truncated_fields]
        if error_type is None:
            error_type = failing.error_type
            cut += [field for field in ("error_type",) if field in failing.truncated_fields]
    tokens = _tokens(anchor, rs)
    agent_name, agent_name_cut = agent
    if agent_name_cut:
        cut.append("agent_name")
    input_text, input_cut, input_source = _io(anchor, rs, "input", call_request_text, last=False)
    output_text, output_cut, output_source = _io(anchor, rs, "output", call_answer_text, last=True)
    cut += [name for name, was_cut in (("input", input_cut), ("output", output_cut)) if was_cut]
    context = {}
    for field in ("session_id", "user_id", "service_name"):
        named = _named(span, field) or _first_named(rs.nodes, field)
        context[field] = named[0] if named else None
        if named and named[1]:
            cut.append(field)
    agent_id = agent_span.agent_id if agent_span else None
    return Run(
        id=make_id(trace_id, anchor.key),
        trace_id=trace_id,
        span_id=anchor.key,
        parent_run_id=make_id(trace_id, anchor.parent_key) if anchor.parent_key else None,
        name=span.name if span else agent_name,
        agent_name=agent_name,
        agent_id=agent_id or derived_agent_id(agent_name),
        agent_version=agent_span.agent_version if agent_span else None,
        agent_description=agent_span.agent_description if agent_span else None,
        status=status,
        input=input_text,
        input_truncated=input_cut,
        output=output_text,
        output_truncated=output_cut,
        error_type=error_type,
        error_message=error_message,
        start_ns=span.start_ns if span else min(m.facts.start_ns for m in anchor.members),
        end_ns=span.end_ns if span and status not in _OPEN_STATUSES else None,
        models=_models(anchor, rs),
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        total_tokens=tokens[2],
        step_count=len(steps),
        tool_call_count=sum(1 for step in steps if step.kind == "tool"),
        llm_call_count=len(rs.llm_calls()),
        failed_step_count=len(failed_steps),
        orphan_span_count=_orphan_count(tree, anchor),
        session_id=context["session_id"],
        user_id=context["user_id"],
        service_name=context["service_name"],
        handoff_from_agent=agent_span.handoff_from_agent if agent_span else None,
        cache_read_input_tokens=tokens[3],
        cache_write_input_tokens=tokens[4],
        reasoning_output_tokens=tokens[5],
        input_source=input_source,
        output_source=output_source,
        truncated_fields=tuple(sorted(set(cut))),
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
                    truncated_fields=a.truncated_fields,
                )
            )
    return artifacts


def _scores(run: Run, anchor: Anchor) -> list[Score]:
    """The scores of the evaluation events on the run's spans, by (span start, span id), then
    event time and content."""
    scores = []
    for member in sorted(anchor.members, key=lambda m: _order(m.facts)):
        f = member.facts
        for s in sorted(f.scores, key=_score_order):
            scores.append(
                Score(
                    run_id=run.id,
                    trace_id=run.trace_id,
                    run_span_id=run.span_id,
                    span_id=f.span_id,
                    run_start_ns=run.start_ns,
                    name=s.name,
                    value=s.value,
                    label=s.label,
                    explanation=s.explanation,
                    error_type=s.error_type,
                    time_ns=s.time_ns,
                )
            )
    return scores


def _score_order(s: ScoreFacts) -> tuple[int, str, float, str, str, str]:
    value = s.value if s.value is not None else float("-inf")
    return s.time_ns, s.name, value, s.label or "", s.explanation or "", s.error_type or ""


def _agents(runs: list[Run]) -> list[AgentSeen]:
    """The agents of the runs, by name. An id the spans gave wins over the derived one."""
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
        if agent.agent_id == derived_agent_id(agent.name):
            agent.agent_id = run.agent_id
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
    run_steps = {key: RunSteps(anchor) for key, anchor in tree.anchors.items()}
    agent_names = {
        key: _agent_name(anchor, run_steps[key].nodes) for key, anchor in tree.anchors.items()
    }
    built = []
    for key, anchor in tree.anchors.items():
        run_id = make_id(trace_id, key)
        rs = run_steps[key]
        steps = [_step(trace_id, run_id, i, node, agent_names) for i, node in enumerate(rs.nodes)]
        run = _run(tree, trace_id, anchor, steps, rs, agent_names[key])
        built.append((run, steps, anchor, rs))
    built.sort(key=lambda item: (item[0].start_ns, item[0].span_id))
    for run, steps, anchor, rs in built:
        derived.runs.append(run)
        derived.steps.extend(steps)
        derived.artifacts.extend(_artifacts(trace_id, run.id, anchor))
        derived.metrics.extend(run_metrics(run, steps, anchor.facts, rs.usage_totals()))
        derived.scores.extend(_scores(run, anchor))
    derived.agents = _agents(derived.runs)
    return derived
