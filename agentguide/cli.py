"""The ``agentguide`` command: the composition root that wires receiver, storage and API."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agentguide.config import (
    DEFAULT_COMPACT_AFTER_S,
    DEFAULT_COMPACTION_INTERVAL_S,
    DEFAULT_RATE_LIMITS,
    DEFAULT_RETENTION_INTERVAL_S,
    ConfigError,
    ServeSettings,
    database_url_from_env,
    default_data_dir,
    default_derive_workers,
    env_float,
    env_int,
    resolve_auth_mode,
)
from agentguide.logs import LOG_FORMATS, configure_logging
from receiver.rate_limit import RateLimit, RateLimits


def _add_database_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=database_url_from_env(),
        help="PostgreSQL URL (env AGENTGUIDE_DATABASE_URL or DATABASE_URL); "
        "without one, an embedded PostgreSQL is started in --data-dir",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ["AGENTGUIDE_DATA_DIR"])
        if os.environ.get("AGENTGUIDE_DATA_DIR")
        else None,
        help=f"data directory of the embedded PostgreSQL (env AGENTGUIDE_DATA_DIR; "
        f"default {default_data_dir()})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentguide",
        description="AgentGuide: an OpenTelemetry span store for AI agents.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="receive OTLP and serve the API",
        description="Serve OTLP/gRPC and one HTTP port (OTLP/HTTP /v1/traces, the query API, "
        "the viewer). Applies pending schema migrations first.",
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("AGENTGUIDE_HOST", "127.0.0.1"),
        help="address to bind (env AGENTGUIDE_HOST; default 127.0.0.1)",
    )
    serve.add_argument(
        "--grpc-port",
        type=int,
        default=env_int("AGENTGUIDE_GRPC_PORT", 4317),
        help="OTLP/gRPC port (env AGENTGUIDE_GRPC_PORT; default 4317)",
    )
    serve.add_argument(
        "--http-port",
        type=int,
        default=env_int("AGENTGUIDE_HTTP_PORT", 4318),
        help="HTTP port for OTLP/HTTP, the API and the viewer (env AGENTGUIDE_HTTP_PORT; "
        "default 4318)",
    )
    _add_database_flags(serve)
    serve.add_argument(
        "--max-request-bytes",
        type=int,
        default=env_int("AGENTGUIDE_MAX_REQUEST_BYTES", ServeSettings.max_request_bytes),
        help="largest export request accepted, after decompression, over gRPC and HTTP "
        "(env AGENTGUIDE_MAX_REQUEST_BYTES; default 32 MiB)",
    )
    serve.add_argument(
        "--max-inflight-bytes",
        type=int,
        default=env_int("AGENTGUIDE_MAX_INFLIGHT_BYTES", ServeSettings.max_inflight_bytes),
        help="request bytes held at once by exports, over gRPC and HTTP; a body whose size is "
        "not known before it is read (gRPC, chunked or gzip HTTP) holds --max-request-bytes "
        "until it is read (env AGENTGUIDE_MAX_INFLIGHT_BYTES; default 64 MiB)",
    )
    serve.add_argument(
        "--max-concurrent-exports",
        "--max-concurrent-grpc-exports",  # its former name
        dest="max_concurrent_exports",
        type=int,
        default=env_int(
            "AGENTGUIDE_MAX_CONCURRENT_EXPORTS",
            env_int("AGENTGUIDE_MAX_CONCURRENT_GRPC_EXPORTS", ServeSettings.max_concurrent_exports),
        ),
        help="exports processed at once, over gRPC and HTTP together; keep it below "
        "--db-pool-size (env AGENTGUIDE_MAX_CONCURRENT_EXPORTS; default 6)",
    )
    serve.add_argument(
        "--admission-wait",
        type=float,
        default=env_float("AGENTGUIDE_ADMISSION_WAIT_S", ServeSettings.admission_wait_s),
        metavar="SECONDS",
        help="how long an export waits for its turn under the two limits above before it is "
        "refused with a retryable 429 / RESOURCE_EXHAUSTED and a retry delay "
        "(env AGENTGUIDE_ADMISSION_WAIT_S; default 2)",
    )
    serve.add_argument(
        "--max-spans-per-request",
        type=int,
        default=env_int("AGENTGUIDE_MAX_SPANS_PER_REQUEST", ServeSettings.max_spans_per_request),
        help="spans one export request may carry; a request with more is refused whole with "
        "413 / INVALID_ARGUMENT (env AGENTGUIDE_MAX_SPANS_PER_REQUEST; default 100000)",
    )
    _add_security_flags(serve)
    _add_rate_limit_flags(serve)
    serve.add_argument(
        "--retention-days",
        type=float,
        default=env_float("AGENTGUIDE_RETENTION_DAYS", None),
        help="delete traces whose newest span ended more than this many days ago "
        "(env AGENTGUIDE_RETENTION_DAYS; default: keep everything)",
    )
    serve.add_argument(
        "--retention-interval",
        type=float,
        default=env_float("AGENTGUIDE_RETENTION_INTERVAL_S", DEFAULT_RETENTION_INTERVAL_S),
        help="seconds between retention passes (env AGENTGUIDE_RETENTION_INTERVAL_S; default 600)",
    )
    serve.add_argument(
        "--compaction",
        choices=["on", "off"],
        default=os.environ.get("AGENTGUIDE_COMPACTION") or "on",
        help="rebuild the B-tree indexes of each day's partitions once the day is over, "
        "and vacuum them, in the background (env AGENTGUIDE_COMPACTION; default on)",
    )
    _add_compact_after_flag(serve)
    serve.add_argument(
        "--compaction-interval",
        type=float,
        default=env_float("AGENTGUIDE_COMPACTION_INTERVAL_S", DEFAULT_COMPACTION_INTERVAL_S),
        metavar="SECONDS",
        help="seconds between compaction passes, the first one this long after start "
        "(env AGENTGUIDE_COMPACTION_INTERVAL_S; default 600)",
    )
    serve.add_argument(
        "--db-pool-size",
        type=int,
        default=env_int("AGENTGUIDE_DB_POOL_SIZE", ServeSettings.db_pool_size),
        help="database connections at most (env AGENTGUIDE_DB_POOL_SIZE; default 8)",
    )
    serve.add_argument(
        "--derive-workers",
        type=int,
        default=env_int("AGENTGUIDE_DERIVE_WORKERS", default_derive_workers()),
        help="derive worker processes (env AGENTGUIDE_DERIVE_WORKERS; default one per "
        f"core, 1 to 4: {default_derive_workers()} here)",
    )
    serve.add_argument(
        "--log-level",
        default=os.environ.get("AGENTGUIDE_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="env AGENTGUIDE_LOG_LEVEL; default info",
    )
    serve.add_argument(
        "--log-format",
        default=os.environ.get("AGENTGUIDE_LOG_FORMAT", "auto"),
        choices=LOG_FORMATS,
        help="json: one JSON object a line (time, level, logger, message, request_id, ...); "
        "text; auto: text on a terminal, json otherwise (env AGENTGUIDE_LOG_FORMAT)",
    )

    simulate = commands.add_parser(
        "simulate",
        help="send realistic agent runs over OTLP",
        description="Generate realistic agent runs with the OpenTelemetry SDK and export them "
        "over real OTLP to AgentGuide (or any OTLP endpoint), then print what was sent.",
    )
    from agentguide.simulation import configure_parser

    configure_parser(simulate)

    migrate = commands.add_parser(
        "migrate",
        help="apply pending schema migrations and exit",
        description="Apply pending schema migrations, each in a transaction under a lock.",
    )
    _add_database_flags(migrate)

    keys = commands.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="API keys: each belongs to one project and has one scope (ingest, read or "
        "admin). Pending schema migrations are applied first.",
    )
    from agentguide.keys_cli import configure_parser as configure_keys_parser

    configure_keys_parser(keys, _add_database_flags)

    prices = commands.add_parser(
        "prices",
        help="set, list and delete price overrides",
        description="Price overrides (USD per million tokens) for custom and fine-tuned "
        "models, consulted before genai-prices' table when LLM calls are priced. Pending "
        "schema migrations are applied first.",
    )
    from agentguide.prices_cli import configure_parser as configure_prices_parser

    configure_prices_parser(prices, _add_database_flags)

    from agentguide.derive_cli import configure_derive_parser, configure_rederive_parser

    derive = commands.add_parser(
        "derive",
        help="the derivers' queue and quarantine",
        description="What the derivers (the processes that turn spans into runs and steps) "
        "have left to do, and the traces they could not derive.",
    )
    configure_derive_parser(derive, _add_database_flags)
    rederive = commands.add_parser(
        "rederive",
        help="derive stored traces again (after a mapping change or a price override)",
        description="Queue stored traces for re-derivation. A running `agentguide serve` "
        "derives them in the background, after live traffic, at full speed; ingest goes on.",
    )
    configure_rederive_parser(rederive, _add_database_flags)

    compact = commands.add_parser(
        "compact",
        help="compact the sealed day partitions now",
        description="One compaction pass now, as the server runs every 10 minutes: each day "
        "partition whose day ended at least --compact-after ago and that was not compacted "
        "since (or was written to since by more than a tenth of its rows) gets its B-tree "
        "indexes rebuilt (REINDEX INDEX CONCURRENTLY: reads and writes go on) and is vacuumed. "
        "Prints each partition's bytes before and after. Pending schema migrations are "
        "applied first.",
    )
    _add_compact_after_flag(compact)
    _add_database_flags(compact)

    from agentguide.alerts_cli import configure_parser as configure_alerts_parser

    alerts = commands.add_parser(
        "alerts",
        help="add, list and delete alert rules; see their deliveries",
        description="Alert rules per project: a metric over a window against a threshold; a "
        "running server evaluates them and POSTs signed webhooks on firing and resolving.",
    )
    configure_alerts_parser(alerts, _add_database_flags)
    return parser


def _add_compact_after_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compact-after",
        type=float,
        default=env_float("AGENTGUIDE_COMPACT_AFTER_S", DEFAULT_COMPACT_AFTER_S),
        metavar="SECONDS",
        help="compact a day's partitions this long after the day ended (UTC), when late "
        "writes have mostly stopped (env AGENTGUIDE_COMPACT_AFTER_S; default 3600)",
    )


def _add_security_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auth",
        choices=["required", "off"],
        default=os.environ.get("AGENTGUIDE_AUTH") or None,
        help="required: every request but /healthz, /readyz and /v1/auth/status needs an API "
        "key; off: none does, and everything goes to the 'default' project (env "
        "AGENTGUIDE_AUTH; default: off on a loopback --host, required otherwise)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=os.environ.get("AGENTGUIDE_INSECURE", "").lower() in ("1", "true", "yes"),
        help="allow --auth off on a non-loopback --host, e.g. behind a proxy that "
        "authenticates (env AGENTGUIDE_INSECURE=1)",
    )


_RATE_FLAGS = (
    ("ingest", "requests", "OTLP exports and REST writes"),
    ("ingest", "spans", "spans"),
    ("read", "requests", "query API requests"),
    ("admin", "requests", "requests"),
    ("admin", "spans", "spans"),
)


def _add_rate_limit_flags(parser: argparse.ArgumentParser) -> None:
    for scope, measure, what in _RATE_FLAGS:
        limit = DEFAULT_RATE_LIMITS.for_scope(scope)
        default = limit.requests_per_s if measure == "requests" else limit.spans_per_s
        env = f"AGENTGUIDE_RATE_{scope.upper()}_{measure.upper()}"
        parser.add_argument(
            f"--rate-{scope}-{measure}",
            type=float,
            default=env_float(env, default),
            metavar="PER_S",
            help=f"{what} per second per {scope} key; over it: 429 / RESOURCE_EXHAUSTED with "
            f"a retry delay; 0: no limit (env {env}; default {default:g})",
        )


def _rate_limits(args: argparse.Namespace) -> RateLimits:
    def scope_limit(scope: str) -> RateLimit:
        spans = getattr(args, f"rate_{scope}_spans", 0.0)
        return RateLimit(requests_per_s=getattr(args, f"rate_{scope}_requests"), spans_per_s=spans)

    return RateLimits(
        ingest=scope_limit("ingest"), read=scope_limit("read"), admin=scope_limit("admin")
    )


def _serve(args: argparse.Namespace) -> int:
    from agentguide.server import serve

    try:
        auth = resolve_auth_mode(args.host, args.auth, args.insecure)
        if args.retention_days is not None and args.retention_days <= 0:
            raise ConfigError("--retention-days must be more than 0")
        if args.derive_workers < 1:
            raise ConfigError("--derive-workers must be at least 1")
        if args.max_concurrent_exports < 1 or args.max_inflight_bytes < 1:
            raise ConfigError("--max-concurrent-exports and --max-inflight-bytes must be 1 or more")
        if args.admission_wait is None or args.admission_wait < 0:
            raise ConfigError("--admission-wait must be 0 or more seconds")
        if args.compaction not in ("on", "off"):
            raise ConfigError("--compaction / AGENTGUIDE_COMPACTION must be 'on' or 'off'")
        if args.compact_after is None or args.compact_after < 0:
            raise ConfigError("--compact-after must be 0 or more seconds")
        if args.compaction_interval is None or args.compaction_interval <= 0:
            raise ConfigError("--compaction-interval must be more than 0 seconds")
    except ConfigError as exc:
        print(f"agentguide serve: {exc}", file=sys.stderr)
        return 2
    settings = ServeSettings(
        host=args.host,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        database_url=args.database_url,
        data_dir=args.data_dir,
        max_request_bytes=args.max_request_bytes,
        max_inflight_bytes=args.max_inflight_bytes,
        max_concurrent_exports=args.max_concurrent_exports,
        admission_wait_s=args.admission_wait,
        max_spans_per_request=args.max_spans_per_request,
        db_pool_size=args.db_pool_size,
        log_level=args.log_level,
        log_format=args.log_format,
        auth=auth,
        rate_limits=_rate_limits(args),
        retention_days=args.retention_days,
        retention_interval_s=args.retention_interval,
        compaction=args.compaction == "on",
        compact_after_s=args.compact_after,
        compaction_interval_s=args.compaction_interval,
        derive_workers=args.derive_workers,
    )
    asyncio.run(serve(settings))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from storage.database import apply_migrations, open_database

    database = open_database(args.database_url, args.data_dir or default_data_dir())
    try:
        applied = apply_migrations(database.url)
    finally:
        database.close()
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def _keys(args: argparse.Namespace) -> int:
    from agentguide.keys_cli import run
    from storage.database import apply_migrations, open_database

    database = open_database(args.database_url, args.data_dir or default_data_dir())
    try:
        apply_migrations(database.url)
        return run(args, database.url)
    finally:
        database.close()


def _with_migrated_database(
    args: argparse.Namespace, action: Callable[[argparse.Namespace, str], int]
) -> int:
    from storage.database import apply_migrations, open_database

    database = open_database(args.database_url, args.data_dir or default_data_dir())
    try:
        apply_migrations(database.url)
        return action(args, database.url)
    finally:
        database.close()


def _prices(args: argparse.Namespace) -> int:
    from agentguide.prices_cli import run

    return _with_migrated_database(args, run)


def _derive(args: argparse.Namespace) -> int:
    from agentguide.derive_cli import derive_status

    return _with_migrated_database(args, derive_status)


def _rederive(args: argparse.Namespace) -> int:
    from agentguide.derive_cli import rederive

    return _with_migrated_database(args, rederive)


def _alerts(args: argparse.Namespace) -> int:
    from agentguide.alerts_cli import run

    return _with_migrated_database(args, run)


def _compact(args: argparse.Namespace) -> int:
    from agentguide.compact_cli import compact

    if args.compact_after is None or args.compact_after < 0:
        print("agentguide compact: --compact-after must be 0 or more seconds", file=sys.stderr)
        return 2
    return _with_migrated_database(args, compact)


def _simulate(args: argparse.Namespace) -> int:
    from agentguide.simulation import run_from_args

    return run_from_args(args)


_QUIET_COMMANDS = frozenset({"keys", "derive", "rederive", "prices", "alerts", "compact"})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(
        getattr(args, "log_level", "warning" if args.command in _QUIET_COMMANDS else "info"),
        getattr(args, "log_format", "text"),
    )
    handlers = {
        "serve": _serve,
        "migrate": _migrate,
        "simulate": _simulate,
        "keys": _keys,
        "prices": _prices,
        "derive": _derive,
        "rederive": _rederive,
        "alerts": _alerts,
        "compact": _compact,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
