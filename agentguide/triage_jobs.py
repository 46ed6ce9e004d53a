"""What triage adds to the derive workers: the derived-state extensions every worker runs
(failure signatures' registry; the embedding queue when similar runs are on), and the
background jobs of the first worker (alert evaluation and webhook delivery; the embedding
worker process when similar runs are on)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool

from agentguide.alert_jobs import AlertEvaluator, WebhookDeliverer
from agentguide.embed_worker import EmbedWorker
from agentguide.embeddings import DIMENSION, similar_runs_reason
from storage.alert_store import AlertStore
from storage.derived_extensions import DerivedExtension
from storage.run_embeddings import EmbeddingQueue, VectorUnavailable, ensure_vector_schema
from storage.signature_registry import SignatureRegistry

logger = logging.getLogger("agentguide.triage")

WATCH_INTERVAL_S = 1.0


async def similar_runs_ready(pool: AsyncConnectionPool, *, say_why: bool) -> bool:
    """Whether this process should queue runs for embedding: the model is installed, the
    feature is not switched off, and the database holds vectors (created here if needed)."""
    reason = similar_runs_reason()
    if reason is None:
        try:
            async with pool.connection() as conn:
                await ensure_vector_schema(conn, DIMENSION)
            return True
        except VectorUnavailable as exc:
            reason = str(exc)
        except Exception as exc:  # the database is down: this worker starts without them
            reason = f"Similar runs are off in this worker: the database could not say ({exc})"
    if say_why:
        logger.info("%s", reason)
    return False


async def triage_extensions(
    pool: AsyncConnectionPool, *, keeper: bool
) -> tuple[list[DerivedExtension], bool]:
    """The extensions a derive worker registers, and whether similar runs are on."""
    similar = await similar_runs_ready(pool, say_why=keeper)
    extensions: list[DerivedExtension] = [SignatureRegistry()]
    if similar:
        extensions.append(EmbeddingQueue())
    return extensions, similar


async def _watch(worker: EmbedWorker) -> None:
    try:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            worker.restart_if_dead()
    finally:
        await asyncio.to_thread(worker.stop)


def start_triage_jobs(
    pool: AsyncConnectionPool,
    database_url: str,
    *,
    similar: bool,
    log_level: str,
    log_format: str,
) -> Sequence[asyncio.Task[None]]:
    """The first derive worker's triage jobs, as tasks to cancel when it stops."""
    loop = asyncio.get_running_loop()
    store = AlertStore(pool)
    deliverer = WebhookDeliverer(store)
    evaluator = AlertEvaluator(store, on_queued=deliverer.wake)
    tasks = [loop.create_task(evaluator.run()), loop.create_task(deliverer.run())]
    if similar:
        worker = EmbedWorker(database_url, log_level, log_format)
        worker.start()
        tasks.append(loop.create_task(_watch(worker)))
    return tasks


async def stop_tasks(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
