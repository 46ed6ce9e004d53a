"""``agentguide serve``: one process with OTLP/gRPC and one HTTP port, over one store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from agentguide.config import ServeSettings, default_data_dir
from agentguide.derive_worker import DeriveWorkers, WorkerOptions
from agentguide.ingest_setup import build_ingest_service
from agentguide.memory import release_free_memory, tune_allocator, tune_garbage_collector
from agentguide.self_metrics import build_registry
from api.app import create_app
from mapping.version import MAPPING_VERSION
from receiver.grpc_server import start_grpc_server
from storage.database import apply_migrations, open_database
from storage.partitions import ensure_partitions_locked
from storage.store import Store

logger = logging.getLogger("agentguide")

SHUTDOWN_GRACE_S = 15.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``serve`` stops gRPC and HTTP together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: ServeSettings) -> None:
    tune_allocator()
    database = open_database(settings.database_url, settings.data_dir or default_data_dir())
    worker_metrics_dir = Path(tempfile.mkdtemp(prefix="agentguide-worker-metrics-"))
    try:
        await asyncio.to_thread(apply_migrations, database.url)
        store = await Store.open(database.url, max_size=settings.db_pool_size)
        async with store.pool.connection() as conn:
            # The days around today, at once; rows waiting in a default partition (an upgraded
            # store's) move in the background, in the derive worker.
            await ensure_partitions_locked(conn, from_defaults=False)
        await _say_if_stale(store)
        ingest = build_ingest_service(store, settings)
        metrics_registry = build_registry(store.pool, ingest, worker_metrics_dir)
        deriver = DeriveWorkers(
            database.url,
            WorkerOptions(
                log_level=settings.log_level,
                log_format=settings.log_format,
                retention_days=settings.retention_days,
                retention_interval_s=settings.retention_interval_s,
                compaction=settings.compaction,
                compact_after_s=settings.compact_after_s,
                compaction_interval_s=settings.compaction_interval_s,
                metrics_dir=worker_metrics_dir,
            ),
            settings.derive_workers,
        )
        deriver.start()
        store.after_commit.append(deriver.wake)
        grpc_server, _ = await start_grpc_server(ingest, settings.host, settings.grpc_port)
        http_server = _Server(
            uvicorn.Config(
                create_app(store, ingest, metrics_registry),
                host=settings.host,
                port=settings.http_port,
                log_level=settings.log_level,
                log_config=None,  # uvicorn's records go through our handler and format
                access_log=False,
                timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
                h11_max_incomplete_event_size=64 * 1024,
            )
        )

        tune_garbage_collector()
        loop = asyncio.get_running_loop()
        grpc_stopping: list[asyncio.Task[None]] = []

        def request_shutdown() -> None:
            if http_server.should_exit:
                return
            logger.info("shutting down: finishing in-flight exports")
            http_server.should_exit = True
            grpc_stopping.append(loop.create_task(grpc_server.stop(grace=SHUTDOWN_GRACE_S)))

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, request_shutdown)
        logger.info(
            "AgentGuide is serving: OTLP/gRPC on %s:%d, OTLP/HTTP and the API on http://%s:%d "
            "(auth %s)",
            settings.host,
            settings.grpc_port,
            settings.host,
            settings.http_port,
            settings.auth.value,
        )
        watchdog = loop.create_task(_watch(deriver))
        try:
            await http_server.serve()
        finally:
            watchdog.cancel()
            if not grpc_stopping:
                grpc_stopping.append(loop.create_task(grpc_server.stop(grace=SHUTDOWN_GRACE_S)))
            await asyncio.gather(*grpc_stopping)
            await asyncio.to_thread(deriver.stop, SHUTDOWN_GRACE_S)
            ingest.decoder.close()
            await store.close()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
    finally:
        database.close()
        shutil.rmtree(worker_metrics_dir, ignore_errors=True)


async def _say_if_stale(store: Store) -> None:
    """Log when stored runs come from an older mapping than this server's."""
    status = await store.queue.status(MAPPING_VERSION)
    if status.stale_mapping_traces:
        logger.warning(
            "%d stored traces were derived by an older mapping (now version %d): run "
            "`agentguide rederive` to derive them again",
            status.stale_mapping_traces,
            MAPPING_VERSION,
        )


async def _watch(deriver: DeriveWorkers) -> None:
    """Restart the derive worker if it dies (dirty traces wait in the database meanwhile), and
    return freed memory to the system."""
    while True:
        await asyncio.sleep(1.0)
        deriver.restart_if_dead()
        release_free_memory()
