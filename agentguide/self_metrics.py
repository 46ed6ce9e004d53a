"""The registry behind ``GET /metrics``: the receivers' instruments, the database pool, the
ingest's in-flight bytes, this process, and the derive worker's figures.

The derive worker is another process: it runs prometheus-client in multiprocess mode, writing
its counters and histograms to files in a directory of its own, which this registry reads at
every scrape. Only the worker runs in that mode, so the server's own instruments stay in
memory, and the figures of a worker that was restarted keep counting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool

from receiver.service import IngestService

_POOL_GAUGES = (
    ("pool_size", "agentguide_db_pool_connections", "Connections open in the pool"),
    ("pool_available", "agentguide_db_pool_available", "Open connections not in use"),
    ("pool_max", "agentguide_db_pool_max", "Connections the pool may open"),
    ("requests_waiting", "agentguide_db_pool_requests_waiting", "Requests waiting for one"),
)
_POOL_COUNTERS = (
    ("requests_num", "agentguide_db_pool_requests", "Connections asked of the pool"),
    ("requests_queued", "agentguide_db_pool_requests_queued", "Requests that had to wait"),
    ("requests_errors", "agentguide_db_pool_request_errors", "Requests that got no connection"),
    ("connections_lost", "agentguide_db_pool_connections_lost", "Connections found broken"),
)


class PoolCollector(Collector):
    """psycopg_pool's ``get_stats()`` at scrape time."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        stats = self.pool.get_stats()
        for key, name, documentation in _POOL_GAUGES:
            yield GaugeMetricFamily(name, documentation, value=stats.get(key, 0))
        yield GaugeMetricFamily(
            "agentguide_db_pool_in_use",
            "Connections in use",
            value=stats.get("pool_size", 0) - stats.get("pool_available", 0),
        )
        for key, name, documentation in _POOL_COUNTERS:
            yield CounterMetricFamily(name, documentation, value=stats.get(key, 0))
        yield CounterMetricFamily(
            "agentguide_db_pool_wait_seconds",
            "Time requests waited for a connection",
            value=stats.get("requests_wait_ms", 0) / 1000,
        )


def build_registry(
    pool: AsyncConnectionPool, ingest: IngestService, worker_metrics_dir: Path | None
) -> CollectorRegistry:
    registry = ingest.metrics.registry
    registry.register(PoolCollector(pool))
    Gauge(
        "agentguide_ingest_inflight_bytes",
        "Request bytes held by exports being processed",
        registry=registry,
    ).set_function(lambda: ingest.admission.inflight_bytes)
    ProcessCollector(registry=registry)
    if worker_metrics_dir is not None:
        MultiProcessCollector(registry, path=str(worker_metrics_dir))
    return registry
