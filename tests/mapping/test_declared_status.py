"""Runs and steps that state their own lifecycle status (AgentGuide's REST ingest)."""

from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from mapping import derive_trace, span_facts
from tests.mapping.builders import facts, rid
from tests.otlp_helpers import make_span


@pytest.mark.parametrize("status", ["PENDING", "RUNNING"])
def test_open_run_has_no_end(status: str) -> None:
    derived = derive_trace([facts(1, None, "agent", declared_status=status)])
    (run,) = derived.runs
    assert (run.status, run.end_ns) == (status, None)
    assert "duration_ms" not in {metric.name for metric in derived.metrics}


@pytest.mark.parametrize("status", ["SUCCESS", "FAILED", "CANCELLED"])
def test_finished_run_keeps_its_end(status: str) -> None:
    (run,) = derive_trace([facts(1, None, "agent", end=99, declared_status=status)]).runs
    assert (run.status, run.end_ns) == (status, 99)


def test_running_step_is_open_and_others_follow_the_span() -> None:
    derived = derive_trace(
        [
            facts(1, None, "agent", declared_status="RUNNING"),
            facts(2, 1, "tool", declared_status="RUNNING"),
            facts(3, 1, "tool", status="ERROR"),
        ]
    )
    steps = {step.id: step for step in derived.steps}
    assert (steps[rid(2)].status, steps[rid(2)].end_ns) == ("RUNNING", None)
    assert steps[rid(3)].status == "FAILED"


def test_span_facts_reads_declared_status_only_when_valid() -> None:
    trace_id = b"\x07" * 16
    resource, scope = Resource(), InstrumentationScope()
    agent = make_span(
        trace_id,
        "invoke_agent a",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "agentguide.run.status": "CANCELLED",
            "agentguide.metric.accuracy": 0.75,
        },
    )
    bogus = make_span(
        trace_id,
        "invoke_agent b",
        attributes={"gen_ai.operation.name": "invoke_agent", "agentguide.run.status": "DONE"},
    )
    assert span_facts(agent, resource, scope).declared_status == "CANCELLED"
    assert span_facts(bogus, resource, scope).declared_status is None
    (run,) = derive_trace([span_facts(agent, resource, scope)]).runs
    assert run.status == "CANCELLED"
    metrics = {m.name: m.value for m in derive_trace([span_facts(agent, resource, scope)]).metrics}
    assert metrics["accuracy"] == 0.75
