"""Settings of the ``serve`` command: flags first, then environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from receiver.limits import (
    DEFAULT_MAX_CONCURRENT_GRPC_EXPORTS,
    DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
)


def default_data_dir() -> Path:
    from platformdirs import user_data_path

    return user_data_path("agentguide") / "pgdata"


def database_url_from_env() -> str | None:
    return os.environ.get("AGENTGUIDE_DATABASE_URL") or os.environ.get("DATABASE_URL") or None


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {value!r}") from None


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    database_url: str | None = None
    data_dir: Path | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES
    max_concurrent_grpc_exports: int = DEFAULT_MAX_CONCURRENT_GRPC_EXPORTS
    db_pool_size: int = 8
    log_level: str = "info"
