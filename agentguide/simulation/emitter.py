"""Emission: a planned run (:class:`~agentguide.simulation.planner.Step` tree) becomes SDK
spans with back-dated timestamps, and records of what was emitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode

from agentguide.simulation.costs import add_cost, expected_call_cost, step_model
from agentguide.simulation.planner import Failure, Step, int_attr
from agentguide.simulation.summary import RunRecord, ToolCallRecord
from mapping.pricing import CostRollup

__all__ = ["Emitter"]


@dataclass
class _RunAccumulator:
    index: int
    trace_id: str
    span_id: str
    parent_run_span_id: str | None
    agent_name: str
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    llm_calls: int = 0
    failed_llm_calls: int = 0
    cost: CostRollup = field(default_factory=CostRollup)
    cost_by_model: dict[str, Decimal] = field(default_factory=dict)

    def finish(self, step: Step, base_ns: int) -> RunRecord:
        failure = step.failure
        return RunRecord(
            index=self.index,
            trace_id=self.trace_id,
            span_id=self.span_id,
            parent_run_span_id=self.parent_run_span_id,
            agent_name=self.agent_name,
            failed=failure is not None,
            error_type=failure.error_type if failure else None,
            error_message=failure.message if failure else None,
            failure_cause=failure.cause if failure else None,
            start_time_unix_nano=base_ns + step.start,
            end_time_unix_nano=base_ns + step.end,
            tool_calls=tuple(self.tool_calls),
            llm_calls=self.llm_calls,
            failed_llm_calls=self.failed_llm_calls,
            input_tokens=int_attr(step, "gen_ai.usage.input_tokens"),
            output_tokens=int_attr(step, "gen_ai.usage.output_tokens"),
            cost_usd=self.cost.cost,
            unpriced_llm_calls=self.cost.unpriced_calls,
            cost_by_model=dict(sorted(self.cost_by_model.items())),
        )


def _stacktrace(failure: Failure) -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "{failure.source_file}", line 42, in {failure.function}\n'
        "    return await self._call_backend(request)\n"
        f"{failure.error_type}: {failure.message}\n"
    )


class Emitter:
    """Starts and ends the spans of one top-level run; ``records`` lists its runs."""

    def __init__(self, tracer: trace.Tracer, index: int, base_ns: int) -> None:
        self._tracer = tracer
        self._index = index
        self._base_ns = base_ns
        self.records: list[RunRecord] = []

    def emit(
        self, step: Step, parent: Context | None = None, run: _RunAccumulator | None = None
    ) -> None:
        span = self._tracer.start_span(
            step.name,
            context=parent,
            kind=step.kind,
            attributes=step.attributes,
            start_time=self._base_ns + step.start,
        )
        context = span.get_span_context()
        span_id = format(context.span_id, "016x")
        if step.role == "agent":
            run = _RunAccumulator(
                index=self._index,
                trace_id=format(context.trace_id, "032x"),
                span_id=span_id,
                parent_run_span_id=run.span_id if run else None,
                agent_name=str(step.attributes["gen_ai.agent.name"]),
            )
        elif run is not None and step.role == "tool":
            run.tool_calls.append(
                ToolCallRecord(
                    tool_name=str(step.attributes["gen_ai.tool.name"]),
                    call_id=str(step.attributes["gen_ai.tool.call.id"]),
                    span_id=span_id,
                    failed=step.failure is not None,
                    error_type=step.failure.error_type if step.failure else None,
                )
            )
        elif run is not None and step.role == "llm":
            run.llm_calls += 1
            run.failed_llm_calls += step.failure is not None
            cost = expected_call_cost(step, self._base_ns + step.start)
            run.cost = run.cost.add(cost)
            add_cost(run.cost_by_model, step_model(step), cost)

        child_context = trace.set_span_in_context(span)
        for child in step.children:
            self.emit(child, child_context, run)

        end_ns = self._base_ns + step.end
        if step.failure is not None:
            span.record_exception(
                Exception(step.failure.message),
                attributes={
                    "exception.type": step.failure.error_type,
                    "exception.stacktrace": _stacktrace(step.failure),
                },
                timestamp=end_ns,
                escaped=True,
            )
            span.set_status(Status(StatusCode.ERROR, step.failure.message))
        span.end(end_time=end_ns)
        if step.role == "agent" and run is not None:
            self.records.append(run.finish(step, self._base_ns))
