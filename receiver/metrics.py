"""The server's own Prometheus instruments: what the receivers took in, and what was refused.

Labels are bounded sets (protocol, outcome, reason): never a project, key or trace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

EXPORT_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class ExportOutcome:
    """How one export request ended: set by the receiver before the request is counted."""

    outcome: str = "error"


class ServerMetrics:
    """Counters, gauges and histograms of one server process, in ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.export_requests = Counter(
            "agentguide_export_requests",
            "OTLP export requests by protocol and outcome (ok, partial, unauthenticated, "
            "permission_denied, rate_limited, overloaded, invalid, too_large, timeout, "
            "too_many_spans, unsupported, unavailable)",
            ["protocol", "outcome"],
            registry=r,
        )
        self.spans_received = Counter(
            "agentguide_spans_received",
            "Spans in decoded OTLP export requests",
            ["protocol"],
            registry=r,
        )
        self.spans_accepted = Counter(
            "agentguide_spans_accepted", "Spans committed to the store", ["protocol"], registry=r
        )
        self.spans_rejected = Counter(
            "agentguide_spans_rejected",
            "Spans of decoded requests that were not stored, by reason (invalid, "
            "too_many_spans, rate_limited, unavailable)",
            ["protocol", "reason"],
            registry=r,
        )
        self.log_records_received = Counter(
            "agentguide_log_records_received",
            "Log records in decoded OTLP logs export requests",
            ["protocol"],
            registry=r,
        )
        self.log_records_accepted = Counter(
            "agentguide_log_records_accepted",
            "Log records committed to the store",
            ["protocol"],
            registry=r,
        )
        self.log_records_rejected = Counter(
            "agentguide_log_records_rejected",
            "Log records of decoded requests that were not stored, by reason (invalid, "
            "too_many_records, rate_limited, unavailable)",
            ["protocol", "reason"],
            registry=r,
        )
        self.export_seconds = Histogram(
            "agentguide_export_duration_seconds",
            "Time from receiving an OTLP export request to answering it",
            ["protocol"],
            buckets=EXPORT_SECONDS_BUCKETS,
            registry=r,
        )
        self.exports_in_flight = Gauge(
            "agentguide_exports_in_flight",
            "OTLP export requests being processed",
            ["protocol"],
            registry=r,
        )
        self.api_rejections = Counter(
            "agentguide_api_rejections",
            "Query and REST API requests refused before they ran, by reason "
            "(unauthenticated, permission_denied, rate_limited)",
            ["reason"],
            registry=r,
        )

    @contextmanager
    def export(self, protocol: str) -> Iterator[ExportOutcome]:
        """Count one export request, its duration and its outcome; in flight meanwhile."""
        in_flight = self.exports_in_flight.labels(protocol)
        in_flight.inc()
        started = time.perf_counter()
        result = ExportOutcome()
        try:
            yield result
        finally:
            in_flight.dec()
            self.export_seconds.labels(protocol).observe(time.perf_counter() - started)
            self.export_requests.labels(protocol, result.outcome).inc()

    def spans(self, protocol: str, *, received: int, accepted: int, rejected: int) -> None:
        if received:
            self.spans_received.labels(protocol).inc(received)
        if accepted:
            self.spans_accepted.labels(protocol).inc(accepted)
        if rejected:
            self.spans_rejected.labels(protocol, "invalid").inc(rejected)

    def spans_refused(self, protocol: str, reason: str, count: int) -> None:
        """A decoded request whose spans were all refused (received, not stored)."""
        self.spans_received.labels(protocol).inc(count)
        self.spans_rejected.labels(protocol, reason).inc(count)

    def log_records(self, protocol: str, *, received: int, rejected: int) -> None:
        if received:
            self.log_records_received.labels(protocol).inc(received)
        if received - rejected:
            self.log_records_accepted.labels(protocol).inc(received - rejected)
        if rejected:
            self.log_records_rejected.labels(protocol, "invalid").inc(rejected)

    def log_records_refused(self, protocol: str, reason: str, count: int) -> None:
        """A decoded logs request whose records were all refused (received, not stored)."""
        self.log_records_received.labels(protocol).inc(count)
        self.log_records_rejected.labels(protocol, reason).inc(count)
