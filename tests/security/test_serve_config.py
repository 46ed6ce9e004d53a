"""Auth modes at start-up, the keys command, and the rate limiter's arithmetic."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentguide.config import ConfigError, is_loopback, resolve_auth_mode
from receiver.auth import ANONYMOUS, AuthMode, Principal
from receiver.rate_limit import RateLimit, RateLimited, RateLimiter, RateLimits, TokenBucket
from tests.security.helpers import agentguide
from tests.support import REPO_ROOT, PostgresServer, free_port


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--host", "0.0.0.0", "--auth", "off"], {}),
        (["--host", "::"], {"AGENTGUIDE_AUTH": "off"}),
        (["--host", "10.1.2.3", "--auth", "off"], {}),
    ],
)
def test_auth_off_on_a_public_address_refuses_to_start(
    args: list[str], env: dict[str, str]
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentguide.cli",
            "serve",
            "--http-port",
            str(free_port()),
            "--grpc-port",
            str(free_port()),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**_clean_env(), **env},
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to serve" in result.stderr
    assert "--insecure" in result.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AGENTGUIDE_") and k not in ("DATABASE_URL",)
    }


@pytest.mark.parametrize(
    ("host", "auth", "insecure", "expected"),
    [
        ("127.0.0.1", None, False, AuthMode.OFF),
        ("localhost", None, False, AuthMode.OFF),
        ("::1", None, False, AuthMode.OFF),
        ("127.0.0.2", None, False, AuthMode.OFF),
        ("0.0.0.0", None, False, AuthMode.REQUIRED),
        ("agentguide.internal", None, False, AuthMode.REQUIRED),
        ("127.0.0.1", "required", False, AuthMode.REQUIRED),
        ("0.0.0.0", "off", True, AuthMode.OFF),
    ],
)
def test_auth_mode(host: str, auth: str | None, insecure: bool, expected: AuthMode) -> None:
    assert resolve_auth_mode(host, auth, insecure) is expected


def test_auth_off_needs_insecure_off_loopback() -> None:
    assert not is_loopback("192.168.1.10")
    with pytest.raises(ConfigError, match="refusing"):
        resolve_auth_mode("192.168.1.10", "off", False)
    with pytest.raises(ConfigError, match="'required' or 'off'"):
        resolve_auth_mode("127.0.0.1", "maybe", False)


def test_keys_command(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    created = agentguide(
        "keys", "create", "--project", "shop", "--name", "collector", "--scope", "ingest",
        "--database-url", database_url,
    )  # fmt: skip
    secret = created.stdout.strip()
    assert secret.startswith("ag_") and len(secret) == 46
    assert secret not in created.stderr
    listed = agentguide("keys", "list", "--database-url", database_url).stdout
    assert "shop" in listed and "collector" in listed and "ingest" in listed
    assert secret not in listed and secret[3:20] not in listed
    assert agentguide("keys", "revoke", "1", "--database-url", database_url).returncode == 0
    revoked = agentguide("keys", "list", "--project", "shop", "--database-url", database_url)
    assert revoked.stdout.splitlines()[1].split()[-1] != "-"
    missing = agentguide("keys", "revoke", "99", "--database-url", database_url, check=False)
    assert missing.returncode == 1
    bad = agentguide(
        "keys", "create", "--project", "no spaces", "--name", "x", "--scope", "read",
        "--database-url", database_url, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "project name" in bad.stderr


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_and_reports_the_wait() -> None:
    clock = _Clock()
    bucket = TokenBucket(rate=4, capacity=4, clock=clock)
    assert bucket.take(4) == 0
    assert bucket.take(1) == 0.25
    clock.now += 0.25
    assert bucket.take(1) == 0
    # A batch larger than the bucket passes when it is full, and leaves it in debt.
    clock.now += 5
    assert bucket.take(10) == 0
    assert bucket.take(1) == 1.75
    clock.now += 1.75
    assert bucket.take(1) == 0


def test_rate_limiter_is_per_key_and_per_scope() -> None:
    clock = _Clock()
    limiter = RateLimiter(
        RateLimits(ingest=RateLimit(requests_per_s=2, spans_per_s=100), read=RateLimit(1)),
        clock=clock,
    )
    first = Principal(2, "p", "ingest", key_id=1)
    second = Principal(2, "p", "ingest", key_id=2)
    limiter.check_request(first)
    limiter.check_request(first)
    with pytest.raises(RateLimited) as refused:
        limiter.check_request(first)
    assert refused.value.retry_after_header == "1"
    limiter.check_request(second)  # another key has its own bucket
    limiter.check_spans(first, 100)
    with pytest.raises(RateLimited):
        limiter.check_spans(first, 1)
    reader = Principal(2, "p", "read", key_id=3)
    limiter.check_spans(reader, 10_000)  # no span limit for read keys
    for _ in range(100):
        limiter.check_request(ANONYMOUS)  # auth off: no key, no limit
