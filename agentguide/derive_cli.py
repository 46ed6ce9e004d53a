"""``agentguide derive status`` and ``agentguide rederive``: the derivers' queue, quarantine and
re-derivation, from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

import psycopg

from api.times import InvalidTime, parse_time
from mapping.version import MAPPING_VERSION
from storage.derive_queue import PostgresDeriveQueue
from storage.store import Store


def configure_derive_parser(
    parser: argparse.ArgumentParser, add_database_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    actions = parser.add_subparsers(dest="derive_command", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status",
        help="what the derivers have left to do, and the traces in quarantine",
        description="Dirty traces (live and background), the age of the oldest, traces derived "
        "by an older mapping, and the quarantine: traces that could not be derived, with their "
        "error, attempts and next retry.",
    )
    status.add_argument("--project", help="one project (name); default: all")
    status.add_argument("--limit", type=int, default=20, help="quarantined traces listed")
    status.add_argument("--json", action="store_true", help="one JSON document")
    add_database_flags(status)


def configure_rederive_parser(
    parser: argparse.ArgumentParser, add_database_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    parser.add_argument("--project", help="one project (name); default: all")
    parser.add_argument(
        "--since",
        help="only traces with spans that started at or after this time (RFC 3339 or epoch ms)",
    )
    parser.add_argument(
        "--stale-only",
        action="store_true",
        help=f"only traces derived by a mapping older than this one (version {MAPPING_VERSION})",
    )
    add_database_flags(parser)


def _project_id(database_url: str, name: str | None) -> int | None:
    if name is None:
        return None
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id FROM projects WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise LookupError(f"there is no project {name!r}")
    return int(row[0])


async def _with_queue(database_url: str, work: Callable[[PostgresDeriveQueue], Any]) -> Any:
    store = await Store.open(database_url, max_size=2)
    try:
        await store.pool.wait()
        return await work(store.queue)
    finally:
        await store.close()


def derive_status(args: argparse.Namespace, database_url: str) -> int:
    try:
        project_id = _project_id(database_url, args.project)
    except LookupError as exc:
        print(f"agentguide derive status: {exc}", file=sys.stderr)
        return 2

    async def work(queue: PostgresDeriveQueue) -> tuple[Any, Any]:
        return (
            await queue.status(MAPPING_VERSION, project_id),
            await queue.quarantined(project_id, args.limit),
        )

    status, quarantined = asyncio.run(_with_queue(database_url, work))
    document = {
        "mapping_version": MAPPING_VERSION,
        "dirty_traces": status.dirty_traces,
        "background_traces": status.background_traces,
        "oldest_dirty_age_s": status.oldest_dirty_age_s,
        "stale_mapping_traces": status.stale_mapping_traces,
        "quarantined_traces": status.quarantined_traces,
        "quarantine": [
            {
                "project_id": q.project_id,
                "trace_id": q.trace_id.hex(),
                "error": q.error,
                "attempts": q.attempts,
                "first_failed_at": q.first_failed_at.isoformat(),
                "last_failed_at": q.last_failed_at.isoformat(),
                "retry_at": q.retry_at.isoformat(),
            }
            for q in quarantined
        ],
    }
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    age = status.oldest_dirty_age_s
    print(
        f"dirty traces: {status.dirty_traces} live"
        + (f" (oldest {age:.1f} s)" if age is not None else "")
        + f", {status.background_traces} re-derivations queued"
    )
    print(
        f"derived by an older mapping: {status.stale_mapping_traces} "
        f"(this is mapping version {MAPPING_VERSION})"
    )
    print(f"quarantined traces: {status.quarantined_traces}")
    for q in document["quarantine"]:
        print(
            f"  {q['trace_id']} (project {q['project_id']}): {q['attempts']} attempts, "
            f"next {q['retry_at']}\n    {q['error']}"
        )
    return 0


def rederive(args: argparse.Namespace, database_url: str) -> int:
    try:
        project_id = _project_id(database_url, args.project)
        since_ns = parse_time(args.since) if args.since else None
    except (LookupError, InvalidTime) as exc:
        print(f"agentguide rederive: {exc}", file=sys.stderr)
        return 2

    async def work(queue: PostgresDeriveQueue) -> int:
        return await queue.enqueue_rederive(
            mapping_version=MAPPING_VERSION,
            project_id=project_id,
            since_ns=since_ns,
            only_stale=args.stale_only,
        )

    queued = asyncio.run(_with_queue(database_url, work))
    print(
        f"queued {queued} traces for re-derivation: the derivers of a running `agentguide "
        "serve` take them after live traffic (`agentguide derive status` shows what is left)"
    )
    return 0
