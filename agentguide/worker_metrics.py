"""The derive worker's instruments (prometheus-client multiprocess mode: see self_metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from storage.retention import RetentionPass

# prometheus-client reads its multiprocess directory from this variable at import: the server
# sets it for the worker's process only.
WORKER_METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.derive_seconds = Histogram(
            "agentguide_derive_batch_duration_seconds",
            "Time to derive one batch of dirty traces (read spans, map, write runs and steps)",
            buckets=_BATCH_SECONDS_BUCKETS,
            registry=r,
        )
        self.mapping_seconds = Histogram(
            "agentguide_mapping_duration_seconds",
            "Time spent mapping spans and deriving runs in one batch, without database I/O",
            buckets=_BATCH_SECONDS_BUCKETS,
            registry=r,
        )
        self.traces_derived = Counter(
            "agentguide_traces_derived", "Traces whose runs and steps were derived", registry=r
        )
        self.retention_traces = Counter(
            "agentguide_retention_deleted_traces", "Traces deleted by retention", registry=r
        )
        self.retention_spans = Counter(
            "agentguide_retention_deleted_spans", "Spans deleted by retention", registry=r
        )

    def derived(self, traces: int, seconds: float, mapping_seconds: float) -> None:
        self.traces_derived.inc(traces)
        self.derive_seconds.observe(seconds)
        self.mapping_seconds.observe(mapping_seconds)

    def retention_pass(self, done: RetentionPass) -> None:
        self.retention_traces.inc(done.traces)
        self.retention_spans.inc(done.spans)
