"""``agentguide alerts add|list|delete|deliveries``: alert rules from the command line.

``add`` prints the new rule's id alone on stdout (so ``$(agentguide alerts add ...)`` captures
it) and its signing secret, shown only then, on stderr with what the rule does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

import psycopg
from pydantic import ValidationError

from agentguide.alerts import METRICS, AlertRule, AlertRuleSpec, AlertState, parse_duration
from storage.alert_store import (
    AlertStore,
    StoredRule,
    add_rule,
    delete_rule,
    list_rules,
    project_id_of,
)
from storage.store import Store

DEFAULT_PROJECT = "default"


def configure_parser(
    parser: argparse.ArgumentParser, add_database_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    actions = parser.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add a rule; prints its id (and its signing secret, once, on stderr)",
        description="Add an alert rule to a project. A running `agentguide serve` evaluates it "
        "in the background and POSTs a signed webhook when it fires and when it resolves.",
    )
    add.add_argument("--project", default=DEFAULT_PROJECT, help="project name (default: default)")
    add.add_argument("--name", required=True, help="what the rule watches, for people")
    add.add_argument("--metric", required=True, choices=METRICS)
    add.add_argument("--comparison", default=">", choices=[">", ">=", "<", "<="], help="default: >")
    add.add_argument(
        "--threshold", required=True, type=float, help="failure_rate: 0..1; others: >= 0"
    )
    add.add_argument(
        "--window", required=True, help="how far back each evaluation looks: 90s, 15m, 1h, 7d"
    )
    add.add_argument("--webhook-url", required=True, help="http:// or https:// URL to POST to")
    add.add_argument("--agent", help="only this agent's runs")
    add.add_argument("--tool", help="only this tool's calls")
    add.add_argument("--signature", help="a failure signature id (for signature_count)")
    add.add_argument("--format", default="agentguide", choices=["agentguide", "slack"])
    add.add_argument("--fire-after", type=int, default=1, help="breaching evaluations to fire")
    add.add_argument("--resolve-after", type=int, default=1, help="clear evaluations to resolve")
    add.add_argument("--secret", help="signing secret (whsec_...); generated when absent")
    add.add_argument("--disabled", action="store_true", help="store it without evaluating it")
    add_database_flags(add)

    listing = actions.add_parser("list", help="list rules and their state (never secrets)")
    listing.add_argument("--project", help="only this project's rules")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    add_database_flags(listing)

    delete = actions.add_parser(
        "delete", help="delete a rule (pending notifications are cancelled; the log stays)"
    )
    delete.add_argument("rule_id", metavar="RULE_ID")
    add_database_flags(delete)

    deliveries = actions.add_parser(
        "deliveries", help="a rule's notifications and every delivery attempt, newest first"
    )
    deliveries.add_argument("rule_id", metavar="RULE_ID")
    deliveries.add_argument("--limit", type=int, default=20)
    add_database_flags(deliveries)


def _fail(action: str, message: str) -> int:
    print(f"agentguide alerts {action}: {message}", file=sys.stderr)
    return 2


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ())) or "rule"
        parts.append(f"{where.replace('_', '-')}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def _add(args: argparse.Namespace, database_url: str) -> int:
    try:
        window = parse_duration(args.window)
    except ValueError as exc:
        return _fail("add", f"window: {exc}")
    fields: dict[str, Any] = {
        "name": args.name,
        "metric": args.metric,
        "comparison": args.comparison,
        "threshold": args.threshold,
        "window_seconds": window,
        "webhook_url": args.webhook_url,
        "agent": args.agent,
        "tool": args.tool,
        "signature": args.signature,
        "format": args.format,
        "fire_after": args.fire_after,
        "resolve_after": args.resolve_after,
        "enabled": not args.disabled,
    }
    try:
        spec = AlertRuleSpec(**fields)
        rule = AlertRule.create(spec, secret=args.secret)
    except ValidationError as exc:
        return _fail("add", _validation_message(exc))
    with psycopg.connect(database_url) as conn:
        project_id = project_id_of(conn, args.project)
        if project_id is None:
            return _fail("add", f"there is no project {args.project!r}")
        add_rule(conn, project_id, rule.id, spec.model_dump(mode="json"), rule.secret)
    print(rule.id)
    print(
        f"added alert rule '{rule.name}' to project '{args.project}': {rule.describe()}, "
        f"POST to {rule.webhook_url}\nsigning secret (shown only now): {rule.secret}",
        file=sys.stderr,
    )
    return 0


def _document(stored: StoredRule) -> dict[str, Any]:
    state = AlertState.from_json(stored.state) if stored.state else AlertState()
    return {
        "id": stored.id,
        "project": stored.project,
        **stored.spec,
        "status": state.status,
        "episode": state.episode,
        "last_value": state.last_value,
        "evaluated_at": stored.evaluated_at.isoformat() if stored.evaluated_at else None,
    }


def _list(args: argparse.Namespace, database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        project_id = None
        if args.project is not None:
            project_id = project_id_of(conn, args.project)
            if project_id is None:
                return _fail("list", f"there is no project {args.project!r}")
        rules = list_rules(conn, project_id)
    if args.json:
        print(json.dumps([_document(rule) for rule in rules], indent=2))
        return 0
    header = ("ID", "PROJECT", "NAME", "RULE", "STATUS", "ENABLED", "WEBHOOK")
    rows = []
    for stored in rules:
        rule = AlertRule.stored(stored.spec, stored.id, stored.secret)
        state = AlertState.from_json(stored.state) if stored.state else AlertState()
        rows.append(
            (
                rule.id,
                stored.project,
                rule.name,
                rule.describe(),
                state.status,
                "yes" if rule.enabled else "no",
                rule.webhook_url,
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _delete(args: argparse.Namespace, database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        if not delete_rule(conn, args.rule_id):
            print(f"agentguide alerts delete: there is no rule {args.rule_id}", file=sys.stderr)
            return 1
    print(f"deleted alert rule {args.rule_id}", file=sys.stderr)
    return 0


def _deliveries(args: argparse.Namespace, database_url: str) -> int:
    async def work() -> Any:
        store = await Store.open(database_url, max_size=1)
        try:
            await store.pool.wait()
            alerts = AlertStore(store.pool)
            rules = await alerts.rules(rule_id=args.rule_id)
            if not rules:
                return None
            return await alerts.deliveries(rules[0].project_id, args.rule_id, args.limit)
        finally:
            await store.close()

    rows = asyncio.run(work())
    if rows is None:
        print(f"agentguide alerts deliveries: there is no rule {args.rule_id}", file=sys.stderr)
        return 1
    for row in rows:
        print(f"{row.created_at.isoformat()}  {row.event:<8} {row.status:<9} {row.message_id}")
        for attempt in row.log:
            code = attempt.status_code if attempt.status_code is not None else "-"
            print(
                f"    attempt {attempt.attempt}: {attempt.outcome} (HTTP {code}, "
                f"{attempt.duration_ms:.0f} ms)" + (f" {attempt.error}" if attempt.error else "")
            )
    return 0


ACTIONS: dict[str, Callable[[argparse.Namespace, str], int]] = {
    "add": _add,
    "list": _list,
    "delete": _delete,
    "deliveries": _deliveries,
}


def run(args: argparse.Namespace, database_url: str) -> int:
    return ACTIONS[args.alerts_command](args, database_url)
