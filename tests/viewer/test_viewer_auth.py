"""With --auth required, the viewer asks for a key, checks it, and sends it with every request."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import REPO_ROOT, PostgresServer, RunningServer, start_server, wait_derived
from tests.viewer.browser import save_screenshot

expect = pytest.importorskip(
    "playwright.sync_api", reason="viewer browser tests skipped: Playwright is not installed"
).expect

PROJECT = "viewer-project"
REFUSALS = pytest.mark.console_errors("status of 401", "status of 403")


@dataclass(frozen=True)
class SecuredSite:
    server: RunningServer
    keys: dict[str, str]
    run_id: str


def create_key(database_url: str, scope: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "agentguide.cli", "keys", "create", "--project", PROJECT,
         "--name", f"viewer-{scope}", "--scope", scope, "--database-url", database_url],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout.strip()


@pytest.fixture(scope="module")
def secured_site(postgres: PostgresServer) -> Iterator[SecuredSite]:
    database_url = postgres.create_database()
    keys = {scope: create_key(database_url, scope) for scope in ("read", "ingest")}
    server = start_server(database_url, "--auth", "required")
    try:
        created = httpx.post(
            f"{server.http_url}/v1/runs",
            json={"agent_name": "guarded-agent", "input": "What is behind the key?"},
            headers={"Authorization": f"Bearer {keys['ingest']}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        wait_derived(database_url)
        yield SecuredSite(server, keys, created.json()["id"])
    finally:
        server.stop()


def sign_in(page: Any, key: str) -> None:
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Continue").click()


@REFUSALS
def test_the_viewer_asks_for_a_key_and_checks_it(page: Any, secured_site: SecuredSite) -> None:
    page.goto(f"{secured_site.server.http_url}/#/runs")
    expect(page.get_by_role("heading", name="An API key is needed")).to_be_visible()
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    save_screenshot(page, "sign-in")

    sign_in(page, "not-a-key")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    sign_in(page, secured_site.keys["ingest"])
    expect(page.get_by_role("alert")).to_contain_text("ingest scope")

    sign_in(page, secured_site.keys["read"])
    rows = page.locator("tr.run-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run-id", secured_site.run_id)
    expect(page.locator("#session .tag")).to_have_text(PROJECT)

    # Kept for the tab: a reload needs no key, and the run's own routes get it too.
    page.goto(f"{secured_site.server.http_url}/#/runs/{secured_site.run_id}")
    page.reload()
    expect(page.locator(".run-title h1")).to_have_text("guarded-agent")
    expect(page.locator(".detail-panel .detail")).to_be_visible()

    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_role("heading", name="An API key is needed")).to_be_visible()
    expect(page.locator("#session")).to_be_empty()


@REFUSALS
def test_a_deep_link_opens_after_the_key(page: Any, secured_site: SecuredSite) -> None:
    page.goto(f"{secured_site.server.http_url}/#/runs/{secured_site.run_id}")
    expect(page.get_by_role("heading", name="An API key is needed")).to_be_visible()
    sign_in(page, secured_site.keys["read"])
    expect(page.locator(".run-title h1")).to_have_text("guarded-agent")
    expect(page).to_have_url(f"{secured_site.server.http_url}/#/runs/{secured_site.run_id}")
