"""Running a simulation: worker threads generate runs into tracer providers whose batch
processors export them (:func:`simulate`), or one provider collects them in memory
(:func:`generate_spans`, what the server's ``POST /v1/simulate`` uses)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from agentguide.simulation.config import SimulationConfig
from agentguide.simulation.exporters import build_span_exporter
from agentguide.simulation.generator import generate_into, package_version, resolved_config
from agentguide.simulation.ids import RunSeededIdGenerator
from agentguide.simulation.summary import RunRecord, SimulationSummary

__all__ = [
    "SERVICE_NAME",
    "build_tracer_provider",
    "generate_spans",
    "simulate",
    "simulator_resource",
]

SERVICE_NAME = "agentguide-simulate"


def simulator_resource() -> Resource:
    """The resource of every simulated span: ``service.name`` agentguide-simulate."""
    return Resource.create({"service.name": SERVICE_NAME, "service.version": package_version()})


def generate_spans(config: SimulationConfig) -> tuple[SimulationSummary, list[ReadableSpan]]:
    """Generate ``config.runs`` runs in memory, exporting nothing: the summary and the spans
    in the order they ended. The export fields of ``config`` are ignored."""
    collected = InMemorySpanExporter()
    provider = TracerProvider(
        resource=simulator_resource(),
        id_generator=RunSeededIdGenerator(),
        sampler=ALWAYS_ON,
        shutdown_on_exit=False,
    )
    provider.add_span_processor(SimpleSpanProcessor(collected))
    try:
        summary = generate_into(provider, config)
    finally:
        provider.shutdown()
    return summary, list(collected.get_finished_spans())


class _DeliveryTally:
    """Counts spans the exporters confirmed or failed, across all worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generated_spans = 0
        self.generated_runs = 0
        self.delivered_spans = 0
        self.failed_spans = 0

    def add_generated(self, runs: int, spans: int) -> None:
        with self._lock:
            self.generated_runs += runs
            self.generated_spans += spans

    def add_export(self, spans: int, ok: bool) -> None:
        with self._lock:
            if ok:
                self.delivered_spans += spans
            else:
                self.failed_spans += spans


class _TallyingExporter(SpanExporter):
    """Passes spans to ``inner`` and counts what it confirmed."""

    def __init__(self, inner: SpanExporter, tally: _DeliveryTally) -> None:
        self._inner = inner
        self._tally = tally

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._inner.export(spans)
        self._tally.add_export(len(spans), result is SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def build_tracer_provider(span_exporter: SpanExporter) -> TracerProvider:
    """A provider with seeded ids, no sampling, and a batch processor around the exporter."""
    provider = TracerProvider(
        resource=simulator_resource(),
        id_generator=RunSeededIdGenerator(),
        sampler=ALWAYS_ON,
    )
    provider.add_span_processor(BatchSpanProcessor(span_exporter, max_queue_size=4096))
    return provider


# The batch processor drops spans when its queue is full: flush before that can happen.
_FLUSH_EVERY_SPANS = 1024


def simulate(
    config: SimulationConfig,
    *,
    on_progress: Callable[[int, int, int], None] | None = None,
    span_exporter_factory: Callable[[], SpanExporter] | None = None,
) -> SimulationSummary:
    """Generate ``config.runs`` runs and export them over OTLP; wait until they are sent.

    ``config.concurrency`` workers each own a tracer provider and an exporter, so that many
    exports are in flight at once. ``on_progress(runs, spans_generated, spans_delivered)``
    is called after every top-level run. Generation stops early once an export has
    failed for good; the summary then covers the runs generated so far and says how many
    spans were not delivered. ``span_exporter_factory`` replaces the OTLP exporters.
    """
    config = resolved_config(config)
    make_exporter = span_exporter_factory or (lambda: build_span_exporter(config))
    tally = _DeliveryTally()
    stop = threading.Event()
    workers = min(config.concurrency, max(config.runs, 1))

    def work(worker: int) -> SimulationSummary:
        provider = build_tracer_provider(_TallyingExporter(make_exporter(), tally))
        pending = 0

        def after_run(records: Sequence[RunRecord], span_count: int) -> None:
            nonlocal pending
            tally.add_generated(1, span_count)
            pending += span_count
            if pending >= _FLUSH_EVERY_SPANS:
                provider.force_flush()
                pending = 0
            if tally.failed_spans:
                stop.set()
            if on_progress is not None:
                on_progress(tally.generated_runs, tally.generated_spans, tally.delivered_spans)

        shard = (index for index in range(worker, config.runs, workers) if not stop.is_set())
        try:
            return generate_into(provider, config, run_indices=shard, after_run=after_run)
        finally:
            provider.shutdown()

    with ThreadPoolExecutor(workers, thread_name_prefix="agentguide-simulate") as pool:
        futures = [pool.submit(work, worker) for worker in range(workers)]
        try:
            summaries = [future.result() for future in futures]
        except BaseException:
            # Ctrl-C or a worker's error: let the other workers stop after their current run.
            stop.set()
            raise
    combined = SimulationSummary.combine(summaries)
    return replace(
        combined,
        delivered_spans=tally.delivered_spans,
        undelivered_spans=combined.spans - tally.delivered_spans,
    )
