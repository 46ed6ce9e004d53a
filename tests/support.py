"""Test support: a real PostgreSQL (the configured one, or an embedded one) and real servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from storage.database import EmbeddedPostgres

REPO_ROOT = Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path:
    """The captured OTLP bodies of real frameworks, inside the repository."""
    return REPO_ROOT / "tests" / "fixtures"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(url: str, dbname: str) -> str:
    params: dict[str, Any] = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


class PostgresServer:
    """The PostgreSQL the tests use: AGENTGUIDE_TEST_DATABASE_URL, else an embedded one. With
    ``embedded=True`` always the embedded PostgreSQL 16 (pgserver), which has pgvector."""

    def __init__(self, *, embedded: bool = False) -> None:
        self._embedded: Any = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        configured = None if embedded else os.environ.get("AGENTGUIDE_TEST_DATABASE_URL")
        self.is_embedded = not configured
        if configured:
            self.admin_url = configured
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="agentguide-test-pg-")
            self._embedded = EmbeddedPostgres(Path(self._tmp.name))  # as `agentguide serve`
            self.admin_url = self._embedded.start()
        self._created: list[str] = []

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = f"agentguide_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return with_database(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        """Drop a database ``create_database`` made (and the autovacuum work it would bring)."""
        name = conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.remove(name)

    def close(self) -> None:
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(self.admin_url, autocommit=True) as conn,
        ):
            for name in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self._embedded is not None:
            self._embedded.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


@dataclass
class RunningServer:
    """An ``agentguide serve`` subprocess on free ports."""

    database_url: str | None
    http_port: int
    grpc_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_args: list[str] = field(default_factory=list)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)


def start_server(
    database_url: str | None,
    *extra_args: str,
    http_port: int | None = None,
    grpc_port: int | None = None,
    env: dict[str, str] | None = None,
    wait_ready: bool = True,
) -> RunningServer:
    http_port = http_port or free_port()
    grpc_port = grpc_port or free_port()
    log_fd, log_name = tempfile.mkstemp(prefix="agentguide-server-", suffix=".log")
    log_file = os.fdopen(log_fd, "wb")
    args = [
        sys.executable,
        "-m",
        "agentguide.cli",
        "serve",
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        *extra_args,
    ]
    if database_url:
        args += ["--database-url", database_url]
    process_env = {
        k: v for k, v in os.environ.items() if k not in ("AGENTGUIDE_DATABASE_URL", "DATABASE_URL")
    }
    process_env.update(env or {})
    with log_file:
        process = subprocess.Popen(
            args, stdout=log_file, stderr=subprocess.STDOUT, env=process_env, cwd=REPO_ROOT
        )
    server = RunningServer(
        database_url, http_port, grpc_port, process, Path(log_name), list(extra_args)
    )
    if wait_ready:
        wait_until_ready(server)
    return server


def wait_until_ready(server: RunningServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.http_url + "/readyz", timeout=2).status_code == 200:
                with socket.create_connection(("127.0.0.1", server.grpc_port), timeout=2):
                    return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"server not ready after {timeout}s:\n{server.log()}")


def wait_derived(database_url: str, timeout: float = 30) -> None:
    """Wait until the deriver has caught up with every committed span."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM dirty_traces").fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)
    raise TimeoutError("derivation did not catch up")


@contextlib.contextmanager
def running_server(
    database_url: str | None, *extra_args: str, **kwargs: Any
) -> Iterator[RunningServer]:
    server = start_server(database_url, *extra_args, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def stored_span_ids(
    database_url: str, trace_id: bytes | None = None, project_id: int | None = None
) -> set[tuple[bytes, bytes]]:
    """The (trace id, span id) of every stored span, each once (spans are stored in blocks)."""
    from storage.codec import span_ids_of

    query = "SELECT trace_id, span_ids FROM spans WHERE true"
    params: list[Any] = []
    if trace_id is not None:
        query += " AND trace_id = %s"
        params.append(trace_id)
    if project_id is not None:
        query += " AND project_id = %s"
        params.append(project_id)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(query, params).fetchall()
    return {
        (bytes(trace), span_id)
        for trace, span_ids in rows
        for span_id in span_ids_of(bytes(span_ids))
    }


def stored_span_count(
    database_url: str, trace_id: bytes | None = None, project_id: int | None = None
) -> int:
    return len(stored_span_ids(database_url, trace_id, project_id))


def stored_raw_spans(database_url: str, trace_id: bytes) -> list[bytes]:
    """Every stored span of a trace as the bytes that were sent (blocks decoded)."""
    from storage.codec import decode_block

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT spans FROM spans WHERE trace_id = %s", (trace_id,)).fetchall()
    return [span for (blob,) in rows for span in decode_block(bytes(blob))]
