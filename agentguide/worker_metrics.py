"""The derive worker's instruments (prometheus-client multiprocess mode: see self_metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from storage.compaction import CompactionPass
from storage.derive_queue import QueueStatus
from storage.deriver import BatchResult
from storage.retention import RetentionPass

# prometheus-client reads its multiprocess directory from this variable at import: the server
# sets it for the worker's process only.
WORKER_METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


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
        self.derive_lag = Histogram(
            "agentguide_derive_lag_seconds",
            "From a trace's oldest unprocessed span write to its derived rows being committed",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.queue_gauges = {
            name: Gauge(name, documentation, registry=r, multiprocess_mode="max")
            for name, documentation in (
                ("agentguide_derive_dirty_traces", "Traces waiting to be derived (live)"),
                ("agentguide_derive_background_traces", "Re-derivations queued"),
                ("agentguide_derive_oldest_dirty_seconds", "Age of the oldest live dirty trace"),
                ("agentguide_derive_quarantined_traces", "Traces in the quarantine"),
                ("agentguide_derive_stale_mapping_traces", "Traces derived by an older mapping"),
            )
        }
        self.retention_days = Counter(
            "agentguide_retention_dropped_days", "Days of data dropped by retention", registry=r
        )
        self.retention_straddling = Counter(
            "agentguide_retention_straddling_traces",
            "Traces with spans on both sides of a dropped day, derived again",
            registry=r,
        )
        self.retention_default_rows = Counter(
            "agentguide_retention_deleted_undated_spans",
            "Spans of days without a partition of their own deleted by retention",
            registry=r,
        )
        self.compacted_partitions = Counter(
            "agentguide_compaction_partitions",
            "Day partitions compacted (indexes rebuilt, then vacuumed)",
            registry=r,
        )
        self.compaction_reclaimed = Counter(
            "agentguide_compaction_reclaimed_bytes",
            "Bytes the compacted partitions shrank by (tables, TOAST and indexes)",
            registry=r,
        )
        self.spans_mapped = Counter(
            "agentguide_derive_spans_mapped", "Spans mapped by the derivers", registry=r
        )
        self.rows_written = Counter(
            "agentguide_derive_rows_written",
            "Run and step rows written (a derivation writes only the rows that changed)",
            registry=r,
        )
        self.traces_quarantined = Counter(
            "agentguide_derive_quarantined",
            "Traces that could not be derived and went to the quarantine",
            registry=r,
        )
        self.derive_pauses = Counter(
            "agentguide_derive_pauses",
            "Times derivation paused because the database was unavailable",
            registry=r,
        )

    def derived(self, result: BatchResult, seconds: float) -> None:
        self.traces_derived.inc(result.traces)
        self.spans_mapped.inc(result.spans_mapped)
        self.rows_written.inc(result.rows_written)
        self.traces_quarantined.inc(result.quarantined)
        self.derive_seconds.observe(seconds)
        self.mapping_seconds.observe(result.mapping_s)
        for lag in result.lag_s:
            self.derive_lag.observe(lag)

    def queue(self, status: QueueStatus) -> None:
        values = {
            "agentguide_derive_dirty_traces": status.dirty_traces,
            "agentguide_derive_background_traces": status.background_traces,
            "agentguide_derive_oldest_dirty_seconds": status.oldest_dirty_age_s or 0.0,
            "agentguide_derive_quarantined_traces": status.quarantined_traces,
            "agentguide_derive_stale_mapping_traces": status.stale_mapping_traces,
        }
        for name, value in values.items():
            self.queue_gauges[name].set(value)

    def paused(self) -> None:
        self.derive_pauses.inc()

    def retention_pass(self, done: RetentionPass) -> None:
        self.retention_days.inc(done.days)
        self.retention_straddling.inc(done.straddling_traces)
        self.retention_default_rows.inc(done.default_rows)

    def compaction_pass(self, done: CompactionPass) -> None:
        self.compacted_partitions.inc(len(done.compacted))
        self.compaction_reclaimed.inc(max(0, done.bytes_before - done.bytes_after))
