"""A server filled by the simulator, and a headless browser to look at it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agentguide.simulation import SimulationConfig, simulate
from tests.support import PostgresServer, RunningServer, start_server, wait_derived
from tests.viewer.browser import DESKTOP, launch, missing_browser

SIMULATED_RUNS = 120
LIVE_AGENT = "live-agent"


@dataclass
class ViewerSite:
    server: RunningServer
    database_url: str
    live_run_id: str

    @property
    def url(self) -> str:
        return self.server.http_url

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()


def _start_live_run(base_url: str) -> str:
    """A REST-ingested run left RUNNING, with one step still open."""
    now_ms = int(time.time() * 1000)
    created = httpx.post(
        f"{base_url}/v1/runs",
        json={
            "agent_name": LIVE_AGENT,
            "input": "Summarise today's support tickets",
            "started_at": now_ms - 4000,
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    moved = httpx.patch(f"{base_url}/v1/runs/{run_id}", json={"status": "RUNNING"}, timeout=30)
    assert moved.status_code == 200, moved.text
    step = httpx.post(
        f"{base_url}/v1/runs/{run_id}/steps",
        json={
            "tool_name": "search_tickets",
            "input": {"day": "today"},
            "started_at": now_ms - 3000,
        },
        timeout=30,
    )
    assert step.status_code == 201, step.text
    return str(run_id)


@pytest.fixture(scope="session")
def viewer_site(postgres: PostgresServer) -> Iterator[ViewerSite]:
    database_url = postgres.create_database()
    server = start_server(database_url)
    try:
        summary = simulate(
            SimulationConfig(
                runs=SIMULATED_RUNS,
                error_rate=0.2,
                agents=("weather-agent", "research-agent", "billing-agent", "support-agent"),
                seed=6,
                time_window_s=20 * 3600,
                endpoint=server.http_url,
                protocol="http/protobuf",
            )
        )
        assert summary.undelivered_spans == 0
        live_run_id = _start_live_run(server.http_url)
        wait_derived(database_url, timeout=120)
        yield ViewerSite(server, database_url, live_run_id)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = missing_browser()
    if reason:
        pytest.skip(f"viewer browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "console_errors(*texts): console errors containing one of texts are expected"
    )


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh desktop-sized page that fails the test on any uncaught script error, and on any
    console error the test does not expect."""
    marker = request.node.get_closest_marker("console_errors")
    expected: tuple[str, ...] = marker.args if marker else ()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()
    unexpected = [error for error in errors if not any(text in error for text in expected)]
    assert not unexpected, f"errors in the page's console: {unexpected}"
