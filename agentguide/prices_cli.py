"""``agentguide prices set|list|delete``: price overrides, from the command line.

An override prices a custom or fine-tuned model (or any model, over genai-prices' price) in
USD per million tokens. A change queues the stored traces it may reprice for re-derivation in
the background (the derivers pick them up after live traffic); the command says how many.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

import psycopg

from api.times import InvalidTime, format_time, parse_time
from storage.prices import (
    InvalidPriceOverride,
    PriceChange,
    PriceOverrideInput,
    StoredPriceOverride,
    UnknownProject,
    delete_price_override,
    list_price_overrides,
    price_value,
    project_id_of,
    set_price_override,
)

DEFAULT_PROJECT = "default"


def configure_parser(
    parser: argparse.ArgumentParser, add_database_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    actions = parser.add_subparsers(dest="prices_command", required=True, metavar="ACTION")
    setting = actions.add_parser(
        "set",
        help="set the price of a model (replacing the same model, provider and start)",
        description="Set a price override, in USD per million tokens, consulted before "
        "genai-prices' table. The stored traces whose runs called a matching model are "
        "queued to be derived, and so priced, again in the background.",
    )
    setting.add_argument(
        "--project", default=DEFAULT_PROJECT, help=f"project name (default {DEFAULT_PROJECT!r})"
    )
    setting.add_argument(
        "--model",
        required=True,
        help="the model as spans name it, or a pattern with * ? [...] (case-insensitive), "
        "e.g. 'ft:gpt-4o-mini:acme:*'",
    )
    setting.add_argument("--provider", help="only calls to this provider (default: any)")
    setting.add_argument("--input", required=True, help="USD per 1M input tokens")
    setting.add_argument("--output", required=True, help="USD per 1M output tokens")
    setting.add_argument(
        "--cached-input", help="USD per 1M input tokens read from a cache (default: --input)"
    )
    setting.add_argument(
        "--cache-write", help="USD per 1M input tokens written to a cache (default: --input)"
    )
    setting.add_argument(
        "--valid-from",
        help="calls from this instant on (RFC 3339 or epoch milliseconds; default: all)",
    )
    add_database_flags(setting)
    listing = actions.add_parser("list", help="list price overrides")
    listing.add_argument("--project", help="only this project's overrides")
    add_database_flags(listing)
    deleting = actions.add_parser(
        "delete",
        help="delete a price override",
        description="Delete a price override by its id (see 'prices list'); the traces it "
        "priced are queued to be priced again.",
    )
    deleting.add_argument("override_id", type=int, metavar="ID")
    add_database_flags(deleting)


def _when(ns: int | None) -> str:
    return "-" if ns is None else format_time(ns - ns % 10**9)


def _price(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def format_overrides(overrides: Sequence[StoredPriceOverride]) -> str:
    header = (
        "ID", "PROJECT", "MODEL", "PROVIDER", "INPUT", "CACHED INPUT", "CACHE WRITE", "OUTPUT",
        "VALID FROM", "SET AT",
    )  # fmt: skip
    rows = [
        (
            str(o.id),
            o.project,
            o.model,
            o.provider or "*",
            _price(o.input_per_mtok),
            _price(o.cached_input_per_mtok),
            _price(o.cache_write_per_mtok),
            _price(o.output_per_mtok),
            _when(o.valid_from_ns),
            _when(o.created_at_ns),
        )
        for o in overrides
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    notes = "USD per 1M tokens; cache prices '-': the input price; valid from '-': always"
    return "\n".join([*lines, notes])


def run(args: argparse.Namespace, database_url: str) -> int:
    action = _ACTIONS[args.prices_command]
    return asyncio.run(_connected(database_url, action, args))


async def _connected(
    database_url: str,
    action: Callable[[argparse.Namespace, psycopg.AsyncConnection[Any]], Awaitable[int]],
    args: argparse.Namespace,
) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return await action(args, conn)


def _valid_from(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except InvalidTime as exc:
        raise InvalidPriceOverride("valid-from", str(exc)) from None


def _requeued(change: PriceChange) -> str:
    if change.rederive_queued == 0:
        return "no stored run called a matching model: nothing to reprice"
    return (
        f"{change.rederive_queued} stored trace(s) queued to be priced again (in the "
        "background, after live traffic)"
    )


async def _set(args: argparse.Namespace, conn: psycopg.AsyncConnection[Any]) -> int:
    try:
        item = PriceOverrideInput(
            model=args.model,
            provider=args.provider,
            input_per_mtok=price_value(args.input, "input"),  # type: ignore[arg-type]
            output_per_mtok=price_value(args.output, "output"),  # type: ignore[arg-type]
            cached_input_per_mtok=price_value(args.cached_input, "cached-input", optional=True),
            cache_write_per_mtok=price_value(args.cache_write, "cache-write", optional=True),
            valid_from_ns=_valid_from(args.valid_from),
        )
        project_id = await project_id_of(conn, args.project)
        change = await set_price_override(conn, project_id, item)
    except (InvalidPriceOverride, UnknownProject) as exc:
        print(f"agentguide prices set: {exc}", file=sys.stderr)
        return 2
    what = "replaced" if change.replaced else "set"
    print(format_overrides([change.override]))
    print(f"{what} price override {change.override.id}; {_requeued(change)}", file=sys.stderr)
    return 0


async def _list(args: argparse.Namespace, conn: psycopg.AsyncConnection[Any]) -> int:
    project_id = None
    if args.project is not None:
        try:
            project_id = await project_id_of(conn, args.project)
        except UnknownProject as exc:
            print(f"agentguide prices list: {exc}", file=sys.stderr)
            return 2
    print(format_overrides(await list_price_overrides(conn, project_id)))
    return 0


async def _delete(args: argparse.Namespace, conn: psycopg.AsyncConnection[Any]) -> int:
    change = await delete_price_override(conn, args.override_id)
    if change is None:
        print(
            f"agentguide prices delete: there is no price override {args.override_id}",
            file=sys.stderr,
        )
        return 1
    print(f"deleted price override {args.override_id}; {_requeued(change)}", file=sys.stderr)
    return 0


_ACTIONS: dict[
    str, Callable[[argparse.Namespace, psycopg.AsyncConnection[Any]], Awaitable[int]]
] = {"set": _set, "list": _list, "delete": _delete}
