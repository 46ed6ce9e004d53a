"""Settings of the ``serve`` command: flags first, then environment variables, then defaults."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from agentguide.compaction_job import DEFAULT_COMPACT_AFTER_S, DEFAULT_COMPACTION_INTERVAL_S
from receiver.auth import AuthMode
from receiver.limits import (
    DEFAULT_ADMISSION_WAIT_S,
    DEFAULT_MAX_CONCURRENT_EXPORTS,
    DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_SPANS_PER_REQUEST,
)
from receiver.rate_limit import RateLimit, RateLimits

DEFAULT_RATE_LIMITS = RateLimits(
    ingest=RateLimit(requests_per_s=200, spans_per_s=20_000),
    read=RateLimit(requests_per_s=50),
    admin=RateLimit(requests_per_s=200, spans_per_s=20_000),
)
DEFAULT_RETENTION_INTERVAL_S = 600.0


class ConfigError(Exception):
    """Settings that cannot be served with; the message says why."""


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


def env_float(name: str, default: float | None) -> float | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {value!r}") from None


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_auth_mode(host: str, auth: str | None, insecure: bool) -> AuthMode:
    """The auth mode to serve with: ``off`` on a loopback address and ``required`` elsewhere
    unless chosen; ``off`` on another address only with ``insecure``."""
    if auth is None:
        return AuthMode.OFF if is_loopback(host) else AuthMode.REQUIRED
    try:
        mode = AuthMode(auth)
    except ValueError:
        raise ConfigError(
            f"--auth / AGENTGUIDE_AUTH must be 'required' or 'off', not {auth!r}"
        ) from None
    if mode is AuthMode.OFF and not is_loopback(host) and not insecure:
        raise ConfigError(
            f"refusing to serve {host} without authentication: anyone who can reach it could "
            "send and read spans. Use --auth required (and create keys with 'agentguide keys "
            "create'), bind a loopback address, or pass --insecure if something in front of "
            "AgentGuide authenticates"
        )
    return mode


def default_derive_workers() -> int:
    """Derive worker processes when none are asked for: one per core, one to four. Deriving
    costs several times the CPU of ingesting a span, so while ingest is idle the derivers
    catch up on every core (on two cores, two workers derive 1.6x as fast as one)."""
    return max(1, min(4, os.cpu_count() or 2))


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    database_url: str | None = None
    data_dir: Path | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES
    max_concurrent_exports: int = DEFAULT_MAX_CONCURRENT_EXPORTS
    admission_wait_s: float = DEFAULT_ADMISSION_WAIT_S
    max_spans_per_request: int = DEFAULT_MAX_SPANS_PER_REQUEST
    db_pool_size: int = 8
    log_level: str = "info"
    log_format: str = "auto"
    auth: AuthMode = AuthMode.OFF
    rate_limits: RateLimits = field(default_factory=lambda: DEFAULT_RATE_LIMITS)
    retention_days: float | None = None
    retention_interval_s: float = DEFAULT_RETENTION_INTERVAL_S
    compaction: bool = True
    compact_after_s: float = DEFAULT_COMPACT_AFTER_S
    compaction_interval_s: float = DEFAULT_COMPACTION_INTERVAL_S
    derive_workers: int = field(default_factory=lambda: default_derive_workers())
