"""Scores in the viewer: a run's scores under its header (with a link to the step judged and to
the runs with the same score), and the score filter of the runs page."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.builders import AgentRun, Tool, send_runs, unique
from tests.support import wait_derived
from tests.viewer.browser import save_screenshot
from tests.viewer.conftest import ViewerSite

expect = pytest.importorskip(
    "playwright.sync_api", reason="viewer browser tests skipped: Playwright is not installed"
).expect


@dataclass
class ScoredRuns:
    agent: str
    scored: str
    unscored: str
    name: str


@pytest.fixture(scope="module")
def scored_runs(viewer_site: ViewerSite) -> ScoredRuns:
    agent, name = unique("graded-agent"), unique("faithfulness")
    now = time.time_ns()
    scored = AgentRun(agent, now - 60 * 10**9, 2000, tools=[Tool("lookup", 100, 300)])
    unscored = AgentRun(agent, now - 50 * 10**9, 1000)
    send_runs(viewer_site.url, [scored, unscored])
    wait_derived(viewer_site.database_url)
    step_id = viewer_site.api(f"/v1/runs/{scored.id}")["steps"][0]["id"]
    for path, body in (
        (
            f"/v1/runs/{scored.id}/scores",
            {"name": name, "value": 0.25, "label": "unsupported", "explanation": "cites nothing"},
        ),
        (f"/v1/runs/{scored.id}/steps/{step_id}/scores", {"name": "tool-choice", "label": "ok"}),
    ):
        response = httpx.post(viewer_site.url + path, json=body, timeout=30)
        assert response.status_code == 201, response.text
    return ScoredRuns(agent, scored.id, unscored.id, name)


def test_the_run_page_lists_its_scores(
    page: Any, viewer_site: ViewerSite, scored_runs: ScoredRuns
) -> None:
    page.goto(f"{viewer_site.url}/#/runs/{scored_runs.scored}")
    rows = page.locator(".scores-table tr.score-row")
    expect(rows).to_have_count(2)
    first = rows.nth(0)
    expect(first).to_have_attribute("data-name", scored_runs.name)
    expect(first.locator(".score-value")).to_have_text("0.25")
    expect(first.locator(".score-label")).to_have_text("unsupported")
    expect(first).to_contain_text("cites nothing")
    expect(first).to_contain_text("run")
    second = rows.nth(1)
    expect(second.locator(".score-value")).to_have_text("–")
    expect(second.locator("a.score-step")).to_have_text("step 0")
    expect(page.locator(".scores-panel h2")).to_have_text("Scores (2)")
    save_screenshot(page, "run-scores")

    second.locator("a.score-step").click()
    expect(page.locator(".detail-panel .detail")).to_have_attribute("data-step-index", "0")


def test_a_run_without_scores_shows_no_scores_panel(
    page: Any, viewer_site: ViewerSite, scored_runs: ScoredRuns
) -> None:
    page.goto(f"{viewer_site.url}/#/runs/{scored_runs.unscored}")
    expect(page.locator(".run-header")).to_be_visible()
    expect(page.locator(".detail-panel .detail")).to_be_visible()
    expect(page.locator(".scores-panel.panel")).to_have_count(0)


def test_a_score_links_to_the_runs_with_it(
    page: Any, viewer_site: ViewerSite, scored_runs: ScoredRuns
) -> None:
    page.goto(f"{viewer_site.url}/#/runs/{scored_runs.scored}")
    page.locator(".scores-table tr.score-row").nth(0).get_by_role(
        "link", name=scored_runs.name
    ).click()
    expect(page).to_have_url(f"{viewer_site.url}/#/runs?score={scored_runs.name}")
    rows = page.locator("tr.run-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run-id", scored_runs.scored)
    expect(page.get_by_label("Score", exact=True)).to_have_value(scored_runs.name)


def test_the_runs_page_filters_by_score_range(
    page: Any, viewer_site: ViewerSite, scored_runs: ScoredRuns
) -> None:
    page.goto(f"{viewer_site.url}/#/runs?agent={scored_runs.agent}")
    expect(page.locator("tr.run-row")).to_have_count(2)
    page.get_by_label("Score", exact=True).fill(scored_runs.name)
    page.get_by_label("Score at least").fill("0.5")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(
        f"{viewer_site.url}/#/runs?agent={scored_runs.agent}&score={scored_runs.name}&score_min=0.5"
    )
    expect(page.locator("tr.run-row")).to_have_count(0)
    page.get_by_label("Score at least").fill("0.25")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tr.run-row")).to_have_count(1)
    expect(page.locator("tr.run-row").first).to_have_attribute("data-run-id", scored_runs.scored)


def test_the_dashboard_has_the_scores_of_its_runs(
    page: Any, viewer_site: ViewerSite, scored_runs: ScoredRuns
) -> None:
    page.goto(f"{viewer_site.url}/#/dashboard?agent={scored_runs.agent}&range=1h")
    rows = page.locator(".score-summary tr.score-summary-row")
    expect(rows).to_have_count(2)
    faithfulness = page.locator(f'.score-summary tr[data-name="{scored_runs.name}"]')
    expect(faithfulness.locator(".score-mean")).to_have_text("0.25")
    expect(faithfulness).to_contain_text("unsupported 1")
    expect(page.locator('.score-summary tr[data-name="tool-choice"] .score-mean')).to_have_text("–")
    expect(page.locator(".score-means svg")).to_be_visible()
    page.locator(".score-summary").scroll_into_view_if_needed()
    save_screenshot(page, "dashboard-scores")
    faithfulness.get_by_role("link", name=scored_runs.name).click()
    expect(page.locator("tr.run-row")).to_have_count(1)
    expect(page.locator("tr.run-row").first).to_have_attribute("data-run-id", scored_runs.scored)
