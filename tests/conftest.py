from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import PostgresServer, RunningServer, start_server

# The session server runs with a small request limit so the over-limit tests stay fast; the
# default limit itself is checked separately.
SESSION_MAX_REQUEST_BYTES = 4 * 1024 * 1024


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def embedded_postgres(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """The embedded PostgreSQL 16 (with pgvector), started for the tests that need it even when
    AGENTGUIDE_TEST_DATABASE_URL names another server; the session's own when it is embedded."""
    if postgres.is_embedded:
        yield postgres
        return
    server = PostgresServer(embedded=True)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def session_database_url(postgres: PostgresServer) -> str:
    return postgres.create_database()


@pytest.fixture
def fresh_database_url(postgres: PostgresServer) -> str:
    return postgres.create_database()


@pytest.fixture(scope="session")
def agentguide_server(session_database_url: str) -> Iterator[RunningServer]:
    server = start_server(
        session_database_url, "--max-request-bytes", str(SESSION_MAX_REQUEST_BYTES)
    )
    try:
        yield server
    finally:
        server.stop()
