"""Which run each span of a trace belongs to: the structural half of ``derive_trace``.

Runs are anchored on agent spans. Steps (tool, LLM, ... spans) that sit below no agent span
still need a run, so the top of their tree acts as one: the trace root when the tree is
complete (the fallback run), or the missing parent when the tree's top has not arrived yet
(a placeholder run, keyed by that parent's span id so that it turns into the agent's run
when the parent arrives and is an agent span). Such an anchor exists only when it has steps
of its own — a tree whose steps all sit below agent spans maps to those agents' runs alone —
or when the trace has no agent span at all: then its root is the one run of the trace.

Parent links that loop (a span its own parent, or a cycle of spans) would leave spans that no
root reaches: the span of each cycle that started first (then by span id) is taken for a root,
so every span is mapped and the result depends only on the set of spans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from mapping.model import STEP_CATEGORIES, SpanFacts

AnchorKind = Literal["agent", "root", "placeholder"]


@dataclass(slots=True)
class StepNode:
    facts: SpanFacts
    parent_step_span_id: str | None  # the nearest step above it within the same run
    child_run_key: str | None  # for the step of a sub-agent: the key of the run it invoked


@dataclass(slots=True)
class Member:
    """A span mapped to a run, with the step its artifacts belong to (None: the run's own)."""

    facts: SpanFacts
    step_span_id: str | None


@dataclass(slots=True)
class Anchor:
    """A run before its figures are computed. ``key`` is the span id the run is keyed by."""

    key: str
    kind: AnchorKind
    facts: SpanFacts | None  # None for a placeholder: its span has not arrived
    parent_key: str | None
    members: list[Member] = field(default_factory=list)
    steps: list[StepNode] = field(default_factory=list)


@dataclass(slots=True)
class RunTree:
    spans: dict[str, SpanFacts]
    anchors: dict[str, Anchor]


def _has_free_steps(tops: list[SpanFacts], children: dict[str, list[SpanFacts]]) -> bool:
    """Whether a step sits in these trees without an agent span above it."""
    stack = list(tops)
    while stack:
        span = stack.pop()
        if span.category == "agent":
            continue
        if span.category in STEP_CATEGORIES:
            return True
        stack.extend(children.get(span.span_id, ()))
    return False


Groups = dict[str, tuple[AnchorKind, list[SpanFacts]]]  # tops of trees, by their run's key


def _cycle_roots(
    spans: dict[str, SpanFacts], children: dict[str, list[SpanFacts]], groups: Groups
) -> Groups:
    """The first-started span of every parent cycle as a root group, cut from its parent's
    children (in place). Called only when some span was left unmapped."""
    roots: Groups = {}
    reached: set[str] = set()
    stack = [top for _, tops in groups.values() for top in tops]
    while True:
        while stack:
            span = stack.pop()
            reached.add(span.span_id)
            stack.extend(children.get(span.span_id, ()))
        if len(reached) == len(spans):
            return roots
        # An unreached span hangs below a cycle: follow its parents until one repeats.
        span = next(f for f in spans.values() if f.span_id not in reached)
        path: dict[str, int] = {}
        while span.span_id not in path:
            path[span.span_id] = len(path)
            span = spans[span.parent_span_id]  # type: ignore[index]
        cycle = list(path)[path[span.span_id] :]
        breaker = min((spans[span_id] for span_id in cycle), key=lambda f: (f.start_ns, f.span_id))
        children[breaker.parent_span_id].remove(breaker)  # type: ignore[index]
        roots[breaker.span_id] = ("root", [breaker])
        stack.append(breaker)


def _map_groups(
    groups: Groups,
    children: dict[str, list[SpanFacts]],
    has_agent: bool,
    anchors: dict[str, Anchor],
) -> int:
    """Map the trees below ``groups`` into ``anchors``; the number of spans mapped."""
    stack: list[tuple[SpanFacts, str | None, str | None]] = []
    for key, (kind, tops) in groups.items():
        run_key = None
        if not has_agent or _has_free_steps(tops, children):
            run_key = key
            facts_of_key = tops[0] if kind == "root" else None
            anchors[key] = Anchor(key=key, kind=kind, facts=facts_of_key, parent_key=None)
        stack.extend((top, run_key, None) for top in tops)

    mapped = 0
    while stack:
        span, run_key, step_span_id = stack.pop()
        mapped += 1
        span_id = span.span_id
        if span.category == "agent":
            if run_key is not None:
                anchors[run_key].steps.append(StepNode(span, step_span_id, span_id))
            anchors[span_id] = Anchor(key=span_id, kind="agent", facts=span, parent_key=run_key)
            anchors[span_id].members.append(Member(span, None))
            run_key, step_span_id = span_id, None
        elif run_key is not None:
            run = anchors[run_key]
            if span.category in STEP_CATEGORIES:
                run.steps.append(StepNode(span, step_span_id, None))
                step_span_id = span_id
            run.members.append(Member(span, step_span_id))
        stack.extend((child, run_key, step_span_id) for child in children.get(span_id, ()))
    return mapped


def build_run_tree(facts: Iterable[SpanFacts]) -> RunTree:
    """Assign every span of one trace to its run and every step to its run and parent step."""
    spans = {f.span_id: f for f in facts}
    children: dict[str, list[SpanFacts]] = {}
    groups: Groups = {}
    for span in spans.values():
        parent = span.parent_span_id
        if parent is None or parent == span.span_id:
            groups[span.span_id] = ("root", [span])
        elif parent in spans:
            children.setdefault(parent, []).append(span)
        else:
            groups.setdefault(parent, ("placeholder", []))[1].append(span)

    anchors: dict[str, Anchor] = {}
    has_agent = any(span.category == "agent" for span in spans.values())
    if _map_groups(groups, children, has_agent, anchors) < len(spans):
        _map_groups(_cycle_roots(spans, children, groups), children, has_agent, anchors)
    return RunTree(spans=spans, anchors=anchors)
