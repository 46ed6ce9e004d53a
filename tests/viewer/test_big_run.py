"""A run of 30,000 steps opens and scrolls in the viewer: the waterfall is virtualised.

Timings are measured by bench/bench_viewer.py, not asserted here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.otlp_helpers import post_protobuf
from tests.support import RunningServer, running_server, wait_derived
from tests.viewer.big_run import BigRun, big_run
from tests.viewer.browser import save_screenshot

STEPS = 30_000
# Rows in view plus the overscan above and below: far below the run's size.
MAX_ROW_ELEMENTS = 200


@pytest.fixture(scope="module")
def loaded(postgres: Any) -> Iterator[tuple[RunningServer, BigRun]]:
    database_url = postgres.create_database()
    run = big_run(STEPS)
    with running_server(database_url) as server:
        for request in run.requests:
            response = post_protobuf(server.http_url, request)
            assert response.status_code == 200, response.text
        wait_derived(database_url, timeout=300)
        yield server, run


def test_the_api_serves_a_huge_run_in_pieces(loaded: tuple[RunningServer, BigRun]) -> None:
    server, run = loaded
    base = f"{server.http_url}/v1/runs/{run.run_id}"
    timeline = httpx.get(base + "/timeline", timeout=60).json()
    assert timeline["step_count"] == STEPS
    assert timeline["steps"]["count"] == STEPS
    assert timeline["steps"]["index"] == list(range(STEPS))
    assert timeline["steps"]["status"].count("FAILED") == run.failed_steps
    first = httpx.get(base + "/steps", params={"limit": 100}, timeout=60).json()
    assert [step["index"] for step in first["items"]] == list(range(100))
    assert first["next_offset"] == 100
    last = httpx.get(base + "/steps", params={"offset": STEPS - 50, "limit": 100}, timeout=60)
    assert [step["index"] for step in last.json()["items"]] == list(range(STEPS - 50, STEPS))
    assert last.json()["next_offset"] is None


def rendered_rows(page: Any) -> int:
    return int(page.locator(".wf-row").count())


def test_a_huge_run_opens_and_scrolls(page: Any, loaded: tuple[RunningServer, BigRun]) -> None:
    from playwright.sync_api import expect  # here: the API test above needs no browser

    server, run = loaded
    page.goto(f"{server.http_url}/#/runs/{run.run_id}")
    detail = page.locator(".detail-panel .detail")
    # It opens on its first failing tool call, like any run with failures.
    expect(detail).to_have_attribute("data-step-status", "FAILED", timeout=30_000)
    expect(detail).to_have_attribute("data-step-index", "51")
    expect(detail.locator(".error-message")).to_contain_text("timed out")
    assert rendered_rows(page) <= MAX_ROW_ELEMENTS
    expect(page.locator(".wf-axis-label")).to_have_text(f"{STEPS + 1:,} rows")
    save_screenshot(page, "run-30000-steps")

    tree = page.get_by_role("tree")
    middle = page.evaluate(
        "() => { const v = document.querySelector('.wf-viewport');"
        " v.scrollTop = v.scrollHeight / 2; return v.scrollTop; }"
    )
    assert middle > 0
    expect(page.locator('.wf-row[data-index="15000"]')).to_be_attached()
    assert rendered_rows(page) <= MAX_ROW_ELEMENTS

    tree.focus()
    tree.press("End")
    expect(detail).to_have_attribute("data-step-index", str(STEPS - 1))
    expect(page.locator(f'.wf-row[data-index="{STEPS}"]')).to_be_visible()
    tree.press("PageUp")
    expect(page.locator(".wf-row.selected")).not_to_have_attribute("data-index", str(STEPS))
    assert rendered_rows(page) <= MAX_ROW_ELEMENTS

    page.get_by_role("button", name="Next failure").click()
    expect(detail).to_have_attribute("data-step-status", "FAILED")
