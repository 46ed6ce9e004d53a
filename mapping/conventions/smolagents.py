"""smolagents as OpenInference instruments it (``openinference-instrumentation-smolagents``).

An agent run is the ``AGENT`` span ``<agent name>.run``; it has no ``agent.name``, so the name
is the span name without ``.run``. Its ``input.value`` is JSON of ``run()``'s arguments, whose
``task`` is the request; ``output.value`` is the answer; ``llm.token_count.*`` on it are the
run's totals. ``Step N`` spans are wrappers; tool spans are named after the tool's class and
carry ``tool.name`` (``final_answer`` too). A managed agent's run sits under the manager's step,
with no tool span.
"""

from __future__ import annotations

from typing import Any

from mapping.conventions import openinference
from mapping.conventions.base import Attributes, Convention
from mapping.model import SpanCategory

SCOPES = ("openinference.instrumentation.smolagents",)
RUN_SUFFIX = ".run"


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    if attrs.get(openinference.SPAN_KIND) == "AGENT" and span_name.endswith(RUN_SUFFIX):
        return "agent"
    return openinference.classify(attrs, span_name, scope_name)


def agent_name_from_span_name(span_name: str) -> str | None:
    return span_name.removesuffix(RUN_SUFFIX) or None


def task(data: Any) -> str | None:
    """The ``task`` argument of ``run()``."""
    text = data.get("task") if isinstance(data, dict) else None
    return text if isinstance(text, str) else None


CONVENTION = Convention(
    name="smolagents",
    classify=classify,
    scopes=SCOPES,
    keys=openinference.KEYS,
    markers=openinference.CONVENTION.markers,
    usage_prefixes=openinference.CONVENTION.usage_prefixes,
    agent_name_from_span_name=agent_name_from_span_name,
    request_shapes=(task,),
)
