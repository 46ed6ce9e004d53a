"""Per-run metric rows: durations, token and step counts, tool failures, usage attributes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from mapping.conventions.agentguide import METRIC_PREFIX as AGENTGUIDE_METRIC_PREFIX
from mapping.model import Metric, Run, SpanFacts, Step


def usage_of_run(step_usage: Mapping[str, float], run_span: SpanFacts | None) -> dict[str, float]:
    """Usage attributes of a run: summed over its steps, and for an attribute no step reports,
    the value on the run's own span (an agent span often repeats its steps' sums)."""
    usage = dict(step_usage)
    if run_span is not None:
        for key, value in run_span.usage.items():
            usage.setdefault(key, value)
    return usage


def run_metrics(
    run: Run, steps: list[Step], run_span: SpanFacts | None, step_usage: Mapping[str, float]
) -> list[Metric]:
    """The metric rows of one run, in a fixed order: counts first, then tool failures by tool
    name, then usage attributes by key."""

    def metric(name: str, value: float, tags: dict[str, str] | None = None) -> Metric:
        return Metric(run.id, run.trace_id, name, float(value), tags or {})

    rows = []
    if run.end_ns is not None:
        rows.append(metric("duration_ms", (run.end_ns - run.start_ns) / 1e6))
    rows += [
        metric("input_tokens", run.input_tokens),
        metric("output_tokens", run.output_tokens),
        metric("total_tokens", run.total_tokens),
        metric("step_count", run.step_count),
        metric("tool_call_count", run.tool_call_count),
        metric("llm_call_count", run.llm_call_count),
        metric("failed_step_count", run.failed_step_count),
    ]
    failures = Counter(
        s.tool_name or s.name for s in steps if s.kind == "tool" and s.status == "FAILED"
    )
    rows += [metric("tool_failures", failures[tool], {"tool": tool}) for tool in sorted(failures)]
    usage = usage_of_run(step_usage, run_span)
    rows += [
        metric(key.removeprefix(AGENTGUIDE_METRIC_PREFIX), usage[key]) for key in sorted(usage)
    ]
    return rows
