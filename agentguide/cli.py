"""The ``agentguide`` command: the composition root that wires receiver, storage and API."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from agentguide.config import (
    ServeSettings,
    database_url_from_env,
    default_data_dir,
    env_int,
)


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
        help="request bytes held at once before further exports get a retryable 429/"
        "RESOURCE_EXHAUSTED (env AGENTGUIDE_MAX_INFLIGHT_BYTES; default 48 MiB)",
    )
    serve.add_argument(
        "--max-concurrent-grpc-exports",
        type=int,
        default=env_int(
            "AGENTGUIDE_MAX_CONCURRENT_GRPC_EXPORTS", ServeSettings.max_concurrent_grpc_exports
        ),
        help="gRPC exports processed at once; more get RESOURCE_EXHAUSTED "
        "(env AGENTGUIDE_MAX_CONCURRENT_GRPC_EXPORTS; default 8)",
    )
    serve.add_argument(
        "--db-pool-size",
        type=int,
        default=env_int("AGENTGUIDE_DB_POOL_SIZE", ServeSettings.db_pool_size),
        help="database connections at most (env AGENTGUIDE_DB_POOL_SIZE; default 8)",
    )
    serve.add_argument(
        "--log-level",
        default=os.environ.get("AGENTGUIDE_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="env AGENTGUIDE_LOG_LEVEL; default info",
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
    return parser


def _serve(args: argparse.Namespace) -> int:
    from agentguide.server import serve

    settings = ServeSettings(
        host=args.host,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        database_url=args.database_url,
        data_dir=args.data_dir,
        max_request_bytes=args.max_request_bytes,
        max_inflight_bytes=args.max_inflight_bytes,
        max_concurrent_grpc_exports=args.max_concurrent_grpc_exports,
        db_pool_size=args.db_pool_size,
        log_level=args.log_level,
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


def _simulate(args: argparse.Namespace) -> int:
    from agentguide.simulation import run_from_args

    return run_from_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handlers = {"serve": _serve, "migrate": _migrate, "simulate": _simulate}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
