"""Planning: one agent run drawn as plain data (:class:`Step` trees), pure and seeded.

:class:`RunPlanner` decides everything about a run (rounds, tool calls, payloads, token
usage, latencies, delegation, failures) without touching OpenTelemetry; the emitter then
turns the plan into SDK spans. Times are nanoseconds from the run's start.

What a run looks like (OpenTelemetry GenAI semantic conventions)::

    invoke_agent {agent}            gen_ai.operation.name=invoke_agent, the run
      chat {model}                  gen_ai.operation.name=chat, one model call
      execute_tool {tool}           gen_ai.operation.name=execute_tool, one tool call
      execute_tool ask_{sub_agent}  some runs delegate through a tool ...
        invoke_agent {sub-agent}    ... to a nested run
      invoke_agent {sub-agent}      ... or hand off directly under the parent run
      chat {model}                  the final answer

How failures are drawn, for ``error_rate`` p: every ordinary tool call fails with
probability p; after a failed tool call the agent gives up with probability 1/2 (the run
fails with the tool's ``error.type``), otherwise the model sees the error and carries on.
Independently, each run fails as a whole with probability p/4: a model call fails
(``RateLimitError`` / ``APITimeoutError`` on the chat span and the run) or the agent runs
out of turns (``MaxTurnsExceeded``, on the agent span only). A delegating tool call
fails exactly when the nested run under it fails; a failed nested run, through a tool or
not, makes its parent give up with probability 1/2, like a failed tool. Nested runs are
drawn only among the *other* configured agents, so a single agent never delegates.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from agentguide.simulation.catalogue import AgentProfile, ToolProfile
from agentguide.simulation.config import MAX_RUN_DURATION_NS, MIN_RUN_DURATION_NS
from agentguide.simulation.payloads import CITIES, TOPICS, ident, prose

__all__ = ["Failure", "RunPlanner", "Step", "int_attr", "ns", "run_rng"]

# Share of error_rate with which a run fails as a whole (model error or turn limit).
WHOLE_RUN_FAILURE_SHARE = 0.25
# Chance that an agent gives up after one of its tool calls or nested runs failed.
GIVE_UP_AFTER_FAILURE = 0.5
# Chat spans carry roughly 0.2-2 KB of messages: older turns drop out of the prompt.
_PROMPT_BUDGET_CHARS = 1800


@dataclass(frozen=True)
class Failure:
    """Why a span failed: its ``error.type``, message, and where the exception came from."""

    error_type: str
    message: str
    cause: str  # "tool", "sub_agent", "llm", "max_turns"
    source_file: str
    function: str


@dataclass
class Step:
    """One planned span; times are nanoseconds from the start of its top-level run."""

    role: Literal["agent", "llm", "tool"]
    name: str
    start: int
    end: int
    attributes: dict[str, AttributeValue]
    failure: Failure | None = None
    children: list[Step] = field(default_factory=list)

    @property
    def kind(self) -> SpanKind:
        return SpanKind.CLIENT if self.role == "llm" else SpanKind.INTERNAL

    def count(self) -> int:
        return 1 + sum(child.count() for child in self.children)

    def scale(self, factor: float) -> None:
        self.start, self.end = round(self.start * factor), round(self.end * factor)
        for child in self.children:
            child.scale(factor)


def ns(seconds: float) -> int:
    """Seconds as whole nanoseconds."""
    return int(seconds * 1e9)


def _text_message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


class RunPlanner:
    """Draws one top-level run (and its nested runs) from a seeded random generator."""

    def __init__(
        self, rng: random.Random, error_rate: float, agents: Sequence[AgentProfile]
    ) -> None:
        self._rng = rng
        self._error_rate = error_rate
        self._agents = agents

    def plan(self, agent: AgentProfile) -> Step:
        root = self._plan_agent(agent, start=0, nested=False)
        duration = root.end - root.start
        if duration > MAX_RUN_DURATION_NS:
            root.scale(MAX_RUN_DURATION_NS / duration)
        elif duration < MIN_RUN_DURATION_NS:
            root.scale(MIN_RUN_DURATION_NS / duration)
        return root

    def _user_request(self, agent: AgentProfile) -> str:
        rng = self._rng
        template = rng.choice(agent.requests)
        return template.format(city=rng.choice(CITIES), topic=rng.choice(TOPICS))

    def _plan_agent(
        self,
        agent: AgentProfile,
        start: int,
        nested: bool,
        request: str | None = None,
    ) -> Step:
        rng = self._rng
        request = request or self._user_request(agent)
        user_message = _text_message("user", request)
        history: list[dict[str, Any]] = [user_message]
        steps: list[Step] = []
        cursor = start + ns(rng.uniform(0.002, 0.03))

        rounds = rng.randint(1, 2 if nested else agent.max_rounds)
        doom = rng.random() < self._error_rate * WHOLE_RUN_FAILURE_SHARE
        doom_kind = rng.choice(("llm", "max_turns")) if doom else None
        doom_round = rng.randint(0, rounds) if doom_kind == "llm" else None
        candidates = [a for a in self._agents if a.name != agent.name]
        delegate_round: int | None = None
        delegate_mode: str | None = None
        delegate_to: AgentProfile | None = None
        delegation_call_id: str | None = None
        if not nested and candidates and rng.random() < agent.delegation_rate:
            delegate_round = rng.randrange(rounds)
            delegate_mode = rng.choice(("tool", "direct"))
            delegate_to = rng.choice(candidates)

        failure: Failure | None = None
        for round_no in range(rounds):
            delegating = round_no == delegate_round
            tools = [] if delegating else self._pick_tools(agent)
            calls = [(tool, *tool.make_call(rng), ident(rng, "call_", 24)) for tool in tools]
            if delegating and delegate_to is not None:
                delegation_call_id = ident(rng, "call_", 24) if delegate_mode == "tool" else None
                output = _handoff_message(delegate_to, request, delegation_call_id)
            else:
                output = self._tool_call_message(calls)
            llm_fails = round_no == doom_round
            chat = self._plan_chat(agent, history, output, cursor, llm_fails)
            steps.append(chat)
            cursor = chat.end + ns(rng.uniform(0.001, 0.02))
            if chat.failure:
                failure = chat.failure
                break
            history.append(output)

            if delegating and delegate_to is not None:
                sub_step, failure = self._plan_delegation(
                    delegate_to, delegation_call_id, request, cursor, history
                )
                steps.append(sub_step)
                cursor = sub_step.end + ns(rng.uniform(0.001, 0.02))
                if failure:
                    break
                continue

            for tool, arguments, result, call_id in calls:
                tool_step = self._plan_tool(tool, arguments, result, call_id, cursor)
                steps.append(tool_step)
                cursor = tool_step.end + ns(rng.uniform(0.001, 0.02))
                history.append(self._tool_response(call_id, tool_step, result))
                if tool_step.failure and rng.random() < GIVE_UP_AFTER_FAILURE:
                    failure = replace(
                        tool_step.failure,
                        message=f"tool {tool.name} failed: {tool_step.failure.message}",
                    )
                    break
            if failure:
                break

        final_answer: dict[str, Any] | None = None
        if failure is None and doom_kind == "max_turns":
            failure = Failure(
                "MaxTurnsExceeded",
                f"max turns ({rounds}) exceeded",
                "max_turns",
                "agents/runtime/loop.py",
                "run",
            )
        elif failure is None:
            final_answer = {
                "role": "assistant",
                "parts": [{"type": "text", "content": prose(rng, 200, 1200)}],
                "finish_reason": "stop",
            }
            chat = self._plan_chat(agent, history, final_answer, cursor, doom_round == rounds)
            steps.append(chat)
            cursor = chat.end
            failure = chat.failure

        end = cursor + ns(rng.uniform(0.001, 0.015))
        # The run's own model calls only: a nested run reports its tokens itself.
        llm_steps = [step for step in steps if step.role == "llm"]
        input_tokens = sum(int_attr(step, "gen_ai.usage.input_tokens") for step in llm_steps)
        output_tokens = sum(int_attr(step, "gen_ai.usage.output_tokens") for step in llm_steps)
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent.name,
            "gen_ai.agent.id": agent.agent_id,
            "gen_ai.agent.description": agent.description,
            "gen_ai.provider.name": agent.provider,
            "gen_ai.request.model": agent.request_model,
            "gen_ai.conversation.id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "gen_ai.input.messages": json.dumps([user_message]),
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
        }
        if final_answer is not None and failure is None:
            attributes["gen_ai.output.messages"] = json.dumps([final_answer])
        if failure is not None:
            attributes["error.type"] = failure.error_type
        name = f"invoke_agent {agent.name}"
        return Step("agent", name, start, end, attributes, failure=failure, children=steps)

    def _pick_tools(self, agent: AgentProfile) -> list[ToolProfile]:
        rng = self._rng
        return [rng.choice(agent.tools) for _ in range(rng.choice((1, 1, 1, 2)))]

    def _tool_call_message(
        self, calls: Sequence[tuple[ToolProfile, dict[str, Any], dict[str, Any], str]]
    ) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if self._rng.random() < 0.5:
            names = " and ".join(tool.name for tool, *_ in calls)
            parts.append({"type": "text", "content": f"I'll use {names} to answer that."})
        parts.extend(
            {"type": "tool_call", "id": call_id, "name": tool.name, "arguments": arguments}
            for tool, arguments, _result, call_id in calls
        )
        return {"role": "assistant", "parts": parts, "finish_reason": "tool_call"}

    def _plan_chat(
        self,
        agent: AgentProfile,
        history: Sequence[dict[str, Any]],
        output: dict[str, Any],
        start: int,
        fails: bool,
    ) -> Step:
        rng = self._rng
        input_json = json.dumps(_context_window(history))
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": agent.provider,
            "gen_ai.request.model": agent.request_model,
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 1024,
            "server.address": agent.server_address,
            "server.port": 443,
            "gen_ai.system_instructions": json.dumps(
                [{"type": "text", "content": agent.instructions}]
            ),
            "gen_ai.input.messages": input_json,
        }
        if fails:
            error_type, message = rng.choice(
                (
                    (
                        "RateLimitError",
                        f"Error code: 429 - rate limit reached for {agent.request_model}",
                    ),
                    ("APITimeoutError", "Request timed out."),
                )
            )
            duration = rng.uniform(0.5, 5.0)
            failure = Failure(error_type, message, "llm", "agents/runtime/model.py", "request")
            attributes["error.type"] = error_type
            end = start + ns(duration)
            return Step("llm", f"chat {agent.request_model}", start, end, attributes, failure)
        output_json = json.dumps([output])
        input_tokens = 120 + len(input_json) // 4 + rng.randint(0, 40)
        output_tokens = max(1, len(output_json) // 4 + rng.randint(0, 12))
        duration = rng.uniform(0.25, 0.8) + output_tokens * rng.uniform(0.004, 0.012)
        attributes.update(
            {
                "gen_ai.output.messages": output_json,
                "gen_ai.response.model": agent.response_model,
                "gen_ai.response.id": ident(rng, "chatcmpl-", 24),
                "gen_ai.response.finish_reasons": [output["finish_reason"]],
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
            }
        )
        end = start + ns(duration)
        return Step("llm", f"chat {agent.request_model}", start, end, attributes)

    def _plan_tool(
        self,
        tool: ToolProfile,
        arguments: dict[str, Any],
        result: dict[str, Any],
        call_id: str,
        start: int,
    ) -> Step:
        rng = self._rng
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool.name,
            "gen_ai.tool.description": tool.description,
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.call.arguments": json.dumps(arguments),
        }
        failure = None
        if rng.random() < self._error_rate:
            error_type, message = rng.choice(tool.failures)
            failure = Failure(error_type, message, "tool", tool.source_file, tool.name)
            attributes["error.type"] = error_type
        else:
            attributes["gen_ai.tool.call.result"] = json.dumps(result)
        duration = ns(rng.uniform(*tool.latency_s))
        end = start + duration
        return Step("tool", f"execute_tool {tool.name}", start, end, attributes, failure)

    def _plan_delegation(
        self,
        sub_agent: AgentProfile,
        call_id: str | None,
        request: str,
        start: int,
        history: list[dict[str, Any]],
    ) -> tuple[Step, Failure | None]:
        """A nested run: inside an ``ask_<agent>`` tool call when there is a call id, else
        right under the delegating run."""
        rng = self._rng
        through_tool = call_id is not None
        sub_start = start + (ns(rng.uniform(0.001, 0.01)) if through_tool else 0)
        sub_run = self._plan_agent(sub_agent, sub_start, nested=True, request=request)
        answer = _json_attr(sub_run, "gen_ai.output.messages")
        step = sub_run
        if call_id is not None:
            tool_name = _delegation_tool_name(sub_agent)
            attributes: dict[str, AttributeValue] = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool_name,
                "gen_ai.tool.description": f"Ask {sub_agent.name}: {sub_agent.description}",
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.id": call_id,
                "gen_ai.tool.call.arguments": json.dumps({"request": request}),
            }
            tool_failure = None
            if sub_run.failure is not None:
                attributes["error.type"] = sub_run.failure.error_type
                tool_failure = replace(
                    sub_run.failure,
                    message=f"{sub_agent.name} failed: {sub_run.failure.message}",
                    cause="tool",
                    source_file="agents/runtime/delegation.py",
                    function=tool_name,
                )
            else:
                attributes["gen_ai.tool.call.result"] = json.dumps(answer)
            end = sub_run.end + ns(rng.uniform(0.001, 0.01))
            name = f"execute_tool {tool_name}"
            step = Step("tool", name, start, end, attributes, tool_failure, [sub_run])
            history.append(
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": call_id, "response": answer}],
                }
            )
        else:
            history.append(_text_message("assistant", f"[{sub_agent.name}] {json.dumps(answer)}"))

        failure = None
        if sub_run.failure is not None and rng.random() < GIVE_UP_AFTER_FAILURE:
            failure = replace(
                sub_run.failure,
                message=f"{sub_agent.name} failed: {sub_run.failure.message}",
                cause="sub_agent",
            )
        return step, failure

    @staticmethod
    def _tool_response(call_id: str, tool_step: Step, result: dict[str, Any]) -> dict[str, Any]:
        if tool_step.failure is not None:
            response: Any = {
                "error": f"{tool_step.failure.error_type}: {tool_step.failure.message}"
            }
        else:
            response = result
        return {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": call_id, "response": response}],
        }


def _delegation_tool_name(agent: AgentProfile) -> str:
    return "ask_" + agent.name.replace("-", "_")


def _handoff_message(sub_agent: AgentProfile, request: str, call_id: str | None) -> dict[str, Any]:
    """The model's turn that delegates: a tool call when a call id is given, else a handoff."""
    text = f"This needs {sub_agent.name}; handing the request over."
    parts: list[dict[str, Any]] = [{"type": "text", "content": text}]
    if call_id is not None:
        parts.append(
            {
                "type": "tool_call",
                "id": call_id,
                "name": _delegation_tool_name(sub_agent),
                "arguments": {"request": request},
            }
        )
    return {"role": "assistant", "parts": parts, "finish_reason": "tool_call"}


def _context_window(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first message and as many of the latest ones as fit in the prompt budget."""
    kept: list[dict[str, Any]] = []
    size = len(json.dumps(history[0]))
    for message in reversed(history[1:]):
        size += len(json.dumps(message)) + 2
        if size > _PROMPT_BUDGET_CHARS:
            break
        kept.append(message)
    return [history[0], *reversed(kept)]


def int_attr(step: Step, key: str) -> int:
    """An integer attribute of a planned step, 0 when absent."""
    value = step.attributes.get(key, 0)
    return value if isinstance(value, int) else 0


def _json_attr(step: Step, key: str) -> Any:
    value = step.attributes.get(key)
    return json.loads(value) if isinstance(value, str) else None


def run_rng(seed: int, index: int, purpose: str) -> random.Random:
    """The generator of one run's ``purpose`` ("plan" or "ids"), from the seed alone."""
    # String seeds are hashed with SHA-512 by random.Random: stable across runs and versions.
    return random.Random(f"agentguide-simulate/{seed}/{index}/{purpose}")
