from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import RunningServer


@pytest.fixture(scope="module")
def api(agentguide_server: RunningServer) -> Iterator[httpx.Client]:
    """An HTTP client for the session server's query API."""
    with httpx.Client(base_url=agentguide_server.http_url, timeout=30) as client:
        yield client
