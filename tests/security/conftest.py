from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.security.helpers import Key, create_key, revoke_key
from tests.support import PostgresServer, RunningServer, start_server

MAX_SPANS_PER_REQUEST = 100


@dataclass(frozen=True)
class SecuredServer:
    """A server with --auth required, and keys of two projects made with the CLI."""

    server: RunningServer
    database_url: str
    keys: dict[str, Key]

    def all_secrets(self) -> list[str]:
        return [key.secret for key in self.keys.values()]


@pytest.fixture(scope="package")
def secured(postgres: PostgresServer) -> Iterator[SecuredServer]:
    database_url = postgres.create_database()
    keys = {
        f"{project}-{scope}": create_key(database_url, project, scope)
        for project in ("alpha", "beta")
        for scope in ("ingest", "read", "admin")
    }
    keys["alpha-revoked"] = create_key(database_url, "alpha", "ingest", name="revoked")
    revoke_key(database_url, keys["alpha-revoked"])
    # Debug logging, so that the key-leak test searches everything the server can say.
    server = start_server(
        database_url,
        "--auth",
        "required",
        "--log-level",
        "debug",
        "--rate-read-requests",
        "0",
        "--rate-ingest-requests",
        "0",
        "--rate-admin-requests",
        "0",
        "--max-spans-per-request",
        str(MAX_SPANS_PER_REQUEST),
    )
    try:
        yield SecuredServer(server, database_url, keys)
    finally:
        server.stop()
