"""Which run each span of a trace belongs to: the structural half of ``derive_trace``.

Runs are anchored on agent spans. Steps (tool, LLM, ... spans) that sit below no agent span
still need a run, so the top of their tree acts as one: the trace root when the tree is
complete (the fallback run), or the missing parent when the tree's top has not arrived yet
(a placeholder run, keyed by that parent's span id so that it turns into the agent's run
when the parent arrives and is an agent span). Such an anchor exists only when it has steps
of its own — a tree whose steps all sit below agent spans maps to those agents' runs alone —
or when the trace has no agent span at all: then its root is the one run of the trace.
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


def build_run_tree(facts: Iterable[SpanFacts]) -> RunTree:
    """Assign every span of one trace to its run and every step to its run and parent step."""
    spans = {f.span_id: f for f in facts}
    children: dict[str, list[SpanFacts]] = {}
    groups: dict[str, tuple[AnchorKind, list[SpanFacts]]] = {}
    for span in spans.values():
        parent = span.parent_span_id
        if parent is None:
            groups[span.span_id] = ("root", [span])
        elif parent in spans:
            children.setdefault(parent, []).append(span)
        else:
            groups.setdefault(parent, ("placeholder", []))[1].append(span)

    anchors: dict[str, Anchor] = {}
    stack: list[tuple[SpanFacts, str | None, str | None]] = []
    has_agent = any(span.category == "agent" for span in spans.values())
    for key, (kind, tops) in groups.items():
        run_key = None
        if not has_agent or _has_free_steps(tops, children):
            run_key = key
            facts_of_key = tops[0] if kind == "root" else None
            anchors[key] = Anchor(key=key, kind=kind, facts=facts_of_key, parent_key=None)
        stack.extend((top, run_key, None) for top in tops)

    while stack:
        span, run_key, step_span_id = stack.pop()
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
    return RunTree(spans=spans, anchors=anchors)
