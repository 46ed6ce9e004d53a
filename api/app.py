"""The HTTP application on port 4318: OTLP/HTTP ingest, the query API, health."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry

from api import (
    admin_alerts,
    admin_derive,
    agents,
    auth,
    compare,
    export,
    failures,
    metrics,
    prices,
    prometheus,
    rest_runs,
    run_steps,
    runs,
    scores,
    sessions,
    similar,
    simulate,
    tools,
    trace_logs,
    traces,
)
from api.auth import AUTH_RESPONSES, require_admin, require_ingest, require_read
from api.body_limit import BodyLimitMiddleware
from api.errors import ApiError, install_error_handlers
from api.request_id import RequestIdMiddleware
from api.viewer import install_viewer
from receiver.http import OtlpHttpReceiver
from receiver.logs_http import OtlpLogsHttpReceiver, metrics_not_supported
from receiver.service import IngestService
from storage.errors import StorageUnavailable
from storage.store import Store


def create_app(
    store: Store, ingest: IngestService, metrics_registry: CollectorRegistry | None = None
) -> FastAPI:
    """The HTTP application. Every route under /v1 but ``/v1/auth/status`` needs a key of the
    scope its router names when auth is required (the OTLP route checks its own)."""
    app = FastAPI(
        title="AgentGuide",
        summary="An OpenTelemetry span store for AI agents: runs, steps and KPIs over OTLP.",
        version="0.1.0",
    )
    app.state.store = store
    app.state.ingest = ingest
    app.state.metrics_registry = metrics_registry or ingest.metrics.registry
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_route(
        "/v1/traces", OtlpHttpReceiver(ingest).handle, methods=["POST"], include_in_schema=False
    )
    app.add_route(
        "/v1/logs", OtlpLogsHttpReceiver(ingest).handle, methods=["POST"], include_in_schema=False
    )
    app.add_route("/v1/metrics", metrics_not_supported, methods=["POST"], include_in_schema=False)
    read = [Depends(require_read)]
    ingest_scope = [Depends(require_ingest)]
    admin = [Depends(require_admin)]
    for router, needs in (
        (trace_logs.router, read),
        (traces.router, read),
        (compare.router, read),  # before runs: /v1/runs/compare is not a run id
        (export.router, read),  # likewise /v1/runs/export
        (runs.router, read),
        (run_steps.router, read),
        (rest_runs.router, ingest_scope),
        (scores.read_router, read),
        (scores.write_router, ingest_scope),
        (agents.router, read),
        (tools.router, read),
        (metrics.router, read),
        (simulate.router, admin),
        (prices.router, admin),
        (admin_derive.router, admin),
        (failures.router, read),
        (similar.router, read),
        (sessions.router, read),
        (admin_alerts.router, admin),
    ):
        app.include_router(router, dependencies=needs, responses=AUTH_RESPONSES)
    app.include_router(auth.router)
    app.include_router(prometheus.router, dependencies=admin)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="The database answers")
    async def readyz() -> dict[str, str]:
        try:
            await store.ping()
        except StorageUnavailable as exc:
            raise ApiError(503, f"the database is unavailable: {exc}") from exc
        return {"status": "ready"}

    install_viewer(app)
    return app
