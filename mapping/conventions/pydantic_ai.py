"""Pydantic AI (and Logfire): what its spans carry beyond the GenAI conventions.

Current versions emit GenAI ``invoke_agent`` / ``chat`` / ``execute_tool`` spans (classified by
the GenAI module) with extras read here: the agent's name in ``agent_name``, the model in
``model_name``, the run's answer in ``final_result``, its conversation in
``pydantic_ai.all_messages`` (the run's input is the first user prompt in it), run totals in
``gen_ai.aggregated_usage.*``, a call's reasoning tokens in
``gen_ai.usage.details.reasoning_tokens``. Versions before the GenAI conventions name the agent
span ``agent run``.
"""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.conventions.base import Attributes, Convention, Keys, TextReader
from mapping.messages import first_user_prompt
from mapping.model import SpanCategory

AGENT_NAME = "agent_name"
MODEL_NAME = "model_name"
FINAL_RESULT = "final_result"
ALL_MESSAGES = "pydantic_ai.all_messages"
ALL_MESSAGES_EVENTS = "all_messages_events"  # instrumentation versions 1 and 2
TOOL_ARGUMENTS = "tool_arguments"  # instrumentation version 1
TOOL_RESPONSE = "tool_response"  # instrumentation version 1
AGENT_RUN_SPAN_NAME = "agent run"
AGGREGATED_USAGE_PREFIX = "gen_ai.aggregated_usage."
# The provider's detailed usage, as Pydantic AI's model classes report it: reasoning tokens are
# only here (gen_ai.usage.details.reasoning_tokens), never gen_ai.usage.reasoning.output_tokens.
REASONING_TOKENS = "gen_ai.usage.details.reasoning_tokens"
AGGREGATED_CACHE_READ_TOKENS = AGGREGATED_USAGE_PREFIX + "cache_read.input_tokens"
AGGREGATED_CACHE_WRITE_TOKENS = AGGREGATED_USAGE_PREFIX + "cache_write.input_tokens"
AGGREGATED_REASONING_TOKENS = AGGREGATED_USAGE_PREFIX + "details.reasoning_tokens"


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    if span_name == AGENT_RUN_SPAN_NAME and attrs.get(AGENT_NAME):
        return "agent"
    return None


def conversation_prompt(attrs: Attributes, span: Span, category: SpanCategory) -> str | None:
    return first_user_prompt(attrs[ALL_MESSAGES])


def conversation_events_prompt(attrs: Attributes, span: Span, category: SpanCategory) -> str | None:
    return first_user_prompt(attrs[ALL_MESSAGES_EVENTS])


CONVENTION = Convention(
    name="pydantic_ai",
    classify=classify,
    keys=Keys(
        agent_name=(AGENT_NAME,),
        agent_name_hint=(AGENT_NAME,),
        model=(MODEL_NAME,),
        input=(TOOL_ARGUMENTS,),
        output=(FINAL_RESULT, TOOL_RESPONSE),
        input_tokens=(AGGREGATED_USAGE_PREFIX + "input_tokens",),
        output_tokens=(AGGREGATED_USAGE_PREFIX + "output_tokens",),
        total_tokens=(AGGREGATED_USAGE_PREFIX + "total_tokens",),
        cache_read_input_tokens=(AGGREGATED_CACHE_READ_TOKENS,),
        cache_write_input_tokens=(AGGREGATED_CACHE_WRITE_TOKENS,),
        reasoning_output_tokens=(REASONING_TOKENS, AGGREGATED_REASONING_TOKENS),
    ),
    markers=(AGENT_NAME,),
    usage_prefixes=(AGGREGATED_USAGE_PREFIX,),
    input_readers=(
        TextReader(conversation_prompt, ALL_MESSAGES, keys=(ALL_MESSAGES,)),
        TextReader(conversation_events_prompt, ALL_MESSAGES_EVENTS, keys=(ALL_MESSAGES_EVENTS,)),
    ),
)
