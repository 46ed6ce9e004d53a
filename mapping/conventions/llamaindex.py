"""LlamaIndex agents and workflows as OpenInference instruments them
(``openinference-instrumentation-llama-index``).

No span is tagged ``AGENT`` and none names the agent. The run is the workflow's root span
``<Workflow>.run`` (``FunctionAgent.run``, ``AgentWorkflow.run``, ``CHAIN``); the agent's name
is only in the reprs its step spans log (``current_agent_name='weather-agent'``), read as a
hint: the run takes the earliest. Each turn has two ``LLM`` spans: ``<LLM>._prepare_chat_with_
tools`` builds the request (a wrapper, no call) and ``<LLM>.astream_chat`` (``achat``, ...)
makes the call. The root's input is the serialised workflow state and its output a repr cut
short: the run shows its first LLM call's request and its last LLM call's answer, read from
the calls' ``llm.input_messages.*`` / ``llm.output_messages.*`` (their ``input.value`` is a
repr too). A handoff stays inside the one workflow span (the ``handoff`` tool): there is no
span per agent, so no child run.
"""

from __future__ import annotations

import re
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.conventions import openinference
from mapping.conventions.base import Attributes, Convention, TextReader
from mapping.model import SpanCategory
from mapping.values import read_prefixed

SCOPES = ("openinference.instrumentation.llama_index",)
RUN_SUFFIX = ".run"
PREPARE_SUFFIX = "._prepare_chat_with_tools"
INPUT_MESSAGES = "llm.input_messages."
OUTPUT_MESSAGES = "llm.output_messages."
_CURRENT_AGENT = re.compile(r"current_agent_name='([^']+)'")
_MESSAGE_FIELD = re.compile(r"(\d+)\.message\.(role|content)$")


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    kind = attrs.get(openinference.SPAN_KIND)
    if kind == "CHAIN" and span_name.endswith(RUN_SUFFIX):
        return "agent"
    if kind == "LLM" and span_name.endswith(PREPARE_SUFFIX):
        return "plain"
    return openinference.classify(attrs, span_name, scope_name)


def current_agent(attrs: Attributes) -> str | None:
    """The ``current_agent_name`` a workflow step's logged event mentions."""
    for key in (openinference.INPUT_VALUE, openinference.OUTPUT_VALUE):
        value = attrs.get(key)
        match = _CURRENT_AGENT.search(value) if isinstance(value, str) else None
        if match:
            return match.group(1)
    return None


def _messages(span: Span, prefix: str) -> list[dict[str, Any]] | None:
    """``<prefix><n>.message.role`` / ``.content`` as a message list ordered by ``n``."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in read_prefixed(span.attributes, (prefix,)).items():
        match = _MESSAGE_FIELD.fullmatch(key.removeprefix(prefix))
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [found[n] for n in sorted(found)] or None


def input_messages(attrs: Attributes, span: Span, category: SpanCategory) -> Any:
    return _messages(span, INPUT_MESSAGES)


def output_messages(attrs: Attributes, span: Span, category: SpanCategory) -> Any:
    return _messages(span, OUTPUT_MESSAGES)


_LLM: frozenset[SpanCategory] = frozenset({"llm"})

CONVENTION = Convention(
    name="llamaindex",
    classify=classify,
    scopes=SCOPES,
    keys=openinference.KEYS,
    markers=openinference.CONVENTION.markers,
    usage_prefixes=openinference.CONVENTION.usage_prefixes,
    agent_name_hint_from_attributes=current_agent,
    agent_text_from_llm_calls=True,
    input_readers=(TextReader(input_messages, INPUT_MESSAGES + "*", _LLM, before_keys=True),),
    output_readers=(TextReader(output_messages, OUTPUT_MESSAGES + "*", _LLM, before_keys=True),),
)
