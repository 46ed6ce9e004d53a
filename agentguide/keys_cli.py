"""``agentguide keys create|list|revoke``: API keys and their projects, from the command line.

The secret of a new key is printed once, alone on stdout (so ``$(agentguide keys create ...)``
captures it); what it is for goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from storage.keys import SCOPES, InvalidKeyRequest, KeyInfo, create_key, list_keys, revoke_key


def configure_parser(
    parser: argparse.ArgumentParser, add_database_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    actions = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a key and print it (once)",
        description="Create an API key for a project (created when new) and print it. Only a "
        "hash is stored: the key cannot be shown again.",
    )
    create.add_argument("--project", required=True, help="project name, e.g. 'checkout'")
    create.add_argument("--name", required=True, help="what the key is for, e.g. 'collector'")
    create.add_argument(
        "--scope",
        required=True,
        choices=SCOPES,
        help="ingest: send spans and REST runs; read: the query API and viewer; "
        "admin: both, plus /v1/simulate, /metrics and /v1/admin/prices",
    )
    add_database_flags(create)
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--project", help="only this project's keys")
    add_database_flags(listing)
    revoke = actions.add_parser(
        "revoke",
        help="revoke a key: it stops working with the next request",
        description="Revoke a key by its id (see 'keys list'). Servers look keys up on every "
        "request, so the key stops working at once, without a restart.",
    )
    revoke.add_argument("key_id", type=int, metavar="KEY_ID")
    add_database_flags(revoke)


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S%z")


def format_keys(keys: Sequence[KeyInfo]) -> str:
    header = ("ID", "PROJECT", "NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED")
    rows = [
        (
            str(k.id),
            k.project,
            k.name,
            k.scope,
            _when(k.created_at),
            _when(k.last_used_at),
            _when(k.revoked_at),
        )
        for k in keys
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def run(args: argparse.Namespace, database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return _ACTIONS[args.keys_command](args, conn)


def _create(args: argparse.Namespace, conn: psycopg.Connection[Any]) -> int:
    try:
        key = create_key(conn, args.project, args.name, args.scope)
    except InvalidKeyRequest as exc:
        print(f"agentguide keys create: {exc}", file=sys.stderr)
        return 2
    print(key.secret)
    print(
        f"created key {key.id} ({key.scope}) '{key.name}' for project '{key.project}'. "
        "It is shown only now: store it in a secret store.",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace, conn: psycopg.Connection[Any]) -> int:
    print(format_keys(list_keys(conn, args.project)))
    return 0


def _revoke(args: argparse.Namespace, conn: psycopg.Connection[Any]) -> int:
    if not revoke_key(conn, args.key_id):
        print(f"agentguide keys revoke: there is no key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked key {args.key_id}", file=sys.stderr)
    return 0


_ACTIONS: dict[str, Callable[[argparse.Namespace, psycopg.Connection[Any]], int]] = {
    "create": _create,
    "list": _list,
    "revoke": _revoke,
}
