"""The HTTP application on port 4318: OTLP/HTTP ingest, the query API, health."""

from __future__ import annotations

from fastapi import FastAPI

from api import agents, metrics, rest_runs, run_steps, runs, simulate, tools, traces
from api.errors import ApiError, install_error_handlers
from api.viewer import install_viewer
from receiver.http import OtlpHttpReceiver
from receiver.service import IngestService
from storage.store import StorageUnavailable, Store


def create_app(store: Store, ingest: IngestService) -> FastAPI:
    app = FastAPI(
        title="AgentGuide",
        summary="An OpenTelemetry span store for AI agents: runs, steps and KPIs over OTLP.",
        version="0.1.0",
    )
    app.state.store = store
    app.state.ingest = ingest
    install_error_handlers(app)
    app.add_route(
        "/v1/traces", OtlpHttpReceiver(ingest).handle, methods=["POST"], include_in_schema=False
    )
    app.include_router(traces.router)
    app.include_router(runs.router)
    app.include_router(run_steps.router)
    app.include_router(rest_runs.router)
    app.include_router(agents.router)
    app.include_router(tools.router)
    app.include_router(metrics.router)
    app.include_router(simulate.router)

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
