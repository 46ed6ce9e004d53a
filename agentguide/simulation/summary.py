"""What a simulation generated: one record per run and tool call, and their totals.

The counts follow these rules:

- A **run** is one ``invoke_agent`` span, top-level or nested. A run *fails* when its
  agent span ends with status ERROR (it then also carries ``error.type`` and an
  ``exception`` event). Nothing else makes a run fail.
- A **tool call** is one ``execute_tool`` span. It *fails* when its span ends with status
  ERROR (plus ``error.type`` and an ``exception`` event). ``failures_by_tool`` counts
  failed tool-call spans by ``gen_ai.tool.name``.
- An **LLM call** is one ``chat`` span; it fails the same way.
- The **expected cost** is what ``mapping.pricing`` makes of each chat span as sent (its
  response model, provider, token counts and start time): ``cost_usd`` sums the priced
  calls (None when none was), ``unpriced_llm_calls`` counts the others (failed calls carry
  no token counts), ``cost_by_model`` splits the priced sum by the model the span names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

__all__ = ["RunRecord", "SimulationSummary", "ToolCallRecord"]


@dataclass(frozen=True)
class ToolCallRecord:
    """One execute_tool span of a run."""

    tool_name: str
    call_id: str
    span_id: str
    failed: bool
    error_type: str | None


@dataclass(frozen=True)
class RunRecord:
    """One invoke_agent span, i.e. one run, with the steps that belong to it directly."""

    index: int  # number of the top-level run this run belongs to
    trace_id: str
    span_id: str
    parent_run_span_id: str | None  # the enclosing run's agent span, for nested runs
    agent_name: str
    failed: bool
    error_type: str | None
    error_message: str | None
    failure_cause: str | None  # "tool", "sub_agent", "llm" or "max_turns"
    start_time_unix_nano: int
    end_time_unix_nano: int
    tool_calls: tuple[ToolCallRecord, ...]
    llm_calls: int
    failed_llm_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None  # expected cost of the run's own LLM calls (None: none priced)
    unpriced_llm_calls: int
    cost_by_model: dict[str, Decimal]

    @property
    def nested(self) -> bool:
        return self.parent_run_span_id is not None

    @property
    def duration_ns(self) -> int:
        return self.end_time_unix_nano - self.start_time_unix_nano


@dataclass(frozen=True)
class SimulationSummary:
    """Everything that was generated; the counts are derived from ``run_records``."""

    seed: int
    runs: int
    top_level_runs: int
    nested_runs: int
    failed_runs: int
    failed_top_level_runs: int
    spans: int
    tool_calls: int
    failed_tool_calls: int
    llm_calls: int
    failed_llm_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None
    unpriced_llm_calls: int
    cost_by_model: dict[str, Decimal]
    runs_by_agent: dict[str, int]
    failed_runs_by_agent: dict[str, int]
    tool_calls_by_tool: dict[str, int]
    failures_by_tool: dict[str, int]
    trace_ids: list[str]
    run_records: list[RunRecord]
    # Filled in by simulate(): spans the exporters confirmed, and those they did not.
    delivered_spans: int | None = None
    undelivered_spans: int | None = None

    @classmethod
    def from_records(
        cls, records: Iterable[RunRecord], *, seed: int, spans: int
    ) -> SimulationSummary:
        ordered = sorted(records, key=lambda r: (r.index, r.start_time_unix_nano, r.nested))
        tool_calls = [call for record in ordered for call in record.tool_calls]
        failed_records = [record for record in ordered if record.failed]
        return cls(
            seed=seed,
            runs=len(ordered),
            top_level_runs=sum(1 for r in ordered if not r.nested),
            nested_runs=sum(1 for r in ordered if r.nested),
            failed_runs=len(failed_records),
            failed_top_level_runs=sum(1 for r in failed_records if not r.nested),
            spans=spans,
            tool_calls=len(tool_calls),
            failed_tool_calls=sum(1 for call in tool_calls if call.failed),
            llm_calls=sum(r.llm_calls for r in ordered),
            failed_llm_calls=sum(r.failed_llm_calls for r in ordered),
            input_tokens=sum(r.input_tokens for r in ordered),
            output_tokens=sum(r.output_tokens for r in ordered),
            cost_usd=_sum_costs(r.cost_usd for r in ordered),
            unpriced_llm_calls=sum(r.unpriced_llm_calls for r in ordered),
            cost_by_model=_costs_by_model(ordered),
            runs_by_agent=_sorted_counts(r.agent_name for r in ordered),
            failed_runs_by_agent=_sorted_counts(r.agent_name for r in failed_records),
            tool_calls_by_tool=_sorted_counts(call.tool_name for call in tool_calls),
            failures_by_tool=_sorted_counts(call.tool_name for call in tool_calls if call.failed),
            trace_ids=list(dict.fromkeys(r.trace_id for r in ordered if not r.nested)),
            run_records=ordered,
        )

    @classmethod
    def combine(cls, summaries: Sequence[SimulationSummary]) -> SimulationSummary:
        """Merge the summaries of disjoint sets of runs generated with one seed."""
        seeds = {summary.seed for summary in summaries}
        if len(seeds) > 1:
            raise ValueError(f"cannot combine summaries of different seeds: {sorted(seeds)}")
        return cls.from_records(
            (record for summary in summaries for record in summary.run_records),
            seed=seeds.pop() if seeds else 0,
            spans=sum(summary.spans for summary in summaries),
        )

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values (USD amounts as numbers)."""
        return _json_ready(asdict(self))


def _sum_costs(costs: Iterable[Decimal | None]) -> Decimal | None:
    priced = [cost for cost in costs if cost is not None]
    return sum(priced, Decimal(0)) if priced else None


def _costs_by_model(records: Iterable[RunRecord]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for record in records:
        for model, cost in record.cost_by_model.items():
            totals[model] = totals.get(model, Decimal(0)) + cost
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def _json_ready(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


def _sorted_counts(names: Iterable[str]) -> dict[str, int]:
    counts = Counter(names)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
