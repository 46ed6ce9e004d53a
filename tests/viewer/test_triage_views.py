"""The triage views in headless Chromium: failures, a failed run's "N other runs failed the same
way", similar runs (on the embedded PostgreSQL with the model) and the compare view."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.builders import send_runs
from tests.support import PostgresServer, running_server, wait_derived
from tests.triage.similar_site import SimilarSite, search_refused, similar_site
from tests.viewer.browser import PHONE, save_screenshot
from tests.viewer.conftest import ViewerSite

expect = pytest.importorskip(
    "playwright.sync_api", reason="viewer browser tests skipped: Playwright is not installed"
).expect


def day_of_failures(site: ViewerSite) -> dict[str, Any]:
    since = (datetime.now(UTC) - timedelta(hours=24)).isoformat()
    answer: dict[str, Any] = site.api("/v1/failures", since=since, limit=100)
    assert answer["items"], "the simulator made no failed run"
    return answer


def test_the_failures_page_lists_the_ways_runs_failed(page: Any, viewer_site: ViewerSite) -> None:
    expected = day_of_failures(viewer_site)
    page.goto(f"{viewer_site.url}/#/failures")
    rows = page.locator("tr.failure-row")
    expect(rows).to_have_count(len(expected["items"]))
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.signature)") == [
        item["signature"] for item in expected["items"]
    ]
    first = expected["items"][0]
    expect(rows.first.locator(".failure-link")).to_have_text(first["title"])
    expect(rows.first.locator(".failure-count")).to_have_text(str(first["count"]))
    expect(rows.first.locator(".sparkline rect")).to_have_count(len(first["trend"]))
    expect(page.get_by_role("link", name="Failures", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    save_screenshot(page, "failures")

    rows.first.locator(".failure-link").click()
    expect(page).to_have_url(
        f"{viewer_site.url}/#/runs?signature={first['signature']}&status=FAILED"
    )
    listed = viewer_site.api("/v1/runs", signature=first["signature"], limit=50)["items"]
    expect(page.locator("tr.run-row")).to_have_count(len(listed))
    expect(page.locator('tr.run-row:not([data-status="FAILED"])')).to_have_count(0)
    expect(page.get_by_label("Failure signature")).to_have_value(first["signature"])


def test_the_failures_page_on_a_phone(browser: Any, viewer_site: ViewerSite) -> None:
    expected = day_of_failures(viewer_site)
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(f"{viewer_site.url}/#/failures?order=count")
        expect(page.locator("tr.failure-row")).to_have_count(len(expected["items"]))
        counts = page.locator("tr.failure-row .failure-count").all_inner_texts()
        assert [int(c.replace(",", "")) for c in counts] == sorted(
            (item["count"] for item in expected["items"]), reverse=True
        )
        save_screenshot(page, "failures-phone")
    finally:
        context.close()


def test_a_failed_run_says_how_many_others_failed_the_same_way(
    page: Any, viewer_site: ViewerSite
) -> None:
    repeated = [item for item in day_of_failures(viewer_site)["items"] if item["count"] >= 2]
    assert repeated, "the simulator made no failure twice"
    run_id = repeated[0]["sample_run_id"]
    failure = viewer_site.api(f"/v1/runs/{run_id}/failure")
    page.goto(f"{viewer_site.url}/#/runs/{run_id}")
    link = page.locator("a.same-failure-link")
    expect(link).to_have_text(f"{failure['other_runs']} other runs failed the same way")
    expect(page.locator(".failure-signature-title")).to_have_text(failure["title"])
    link.click()
    expect(page.locator("tr.run-row")).to_have_count(min(50, failure["other_runs"] + 1))
    expect(page.locator(f'tr.run-row[data-run-id="{run_id}"]')).to_have_count(1)


def test_a_successful_run_has_no_failure_note(page: Any, viewer_site: ViewerSite) -> None:
    run = viewer_site.api("/v1/runs", status="SUCCESS", limit=1)["items"][0]
    page.goto(f"{viewer_site.url}/#/runs/{run['id']}")
    expect(page.locator(".run-title .badge.status-success")).to_be_visible()
    expect(page.locator(".similar-panel")).to_be_visible()
    expect(page.locator(".failure-summary")).to_have_count(0)


def two_runs_of_one_agent(site: ViewerSite) -> tuple[str, str]:
    failed = site.api("/v1/runs", status="FAILED", limit=100)["items"]
    first = next(run for run in failed if not run["parent_run_id"] and run["step_count"] >= 2)
    others = site.api("/v1/runs", agent=first["agent"]["name"], status="SUCCESS", limit=100)
    second = next(run for run in others["items"] if not run["parent_run_id"])
    return first["id"], second["id"]


def test_the_compare_view_shows_the_aligned_steps(page: Any, viewer_site: ViewerSite) -> None:
    a, b = two_runs_of_one_agent(viewer_site)
    answer = viewer_site.api("/v1/runs/compare", a=a, b=b)
    page.goto(f"{viewer_site.url}/#/compare?a={a}&b={b}")
    pairs = page.locator("tr.pair")
    expect(pairs).to_have_count(len(answer["pairs"]))
    assert pairs.evaluate_all("rows => rows.map(row => row.dataset.operation)") == [
        pair["operation"] for pair in answer["pairs"]
    ]
    expect(page.locator(".compare-run[data-side='a'] .run-link")).to_have_text(
        answer["a"]["agent"]["name"]
    )
    divergence = answer["first_divergence"]
    assert divergence is not None  # a failed run against a successful one
    marked = page.locator("tr.pair-first-divergence")
    expect(marked).to_have_attribute("data-position", str(divergence))
    expect(marked.locator(".divergence-marker")).to_have_text("first divergence")
    expect(page.locator(".compare-totals tbody tr")).to_have_count(3)
    save_screenshot(page, "compare")

    page.get_by_label("Differences only").check()
    diverging = sum(1 for pair in answer["pairs"] if pair["diverges"])
    expect(page.locator("tr.pair:visible")).to_have_count(diverging)
    first_changed_step = marked.locator(".step-name").first
    step_link = first_changed_step.get_attribute("href")
    assert step_link is not None and step_link.startswith(f"#/runs/{a}?step=")


@pytest.mark.console_errors("status of 404")
def test_the_compare_view_says_when_a_run_is_unknown(page: Any, viewer_site: ViewerSite) -> None:
    a, _ = two_runs_of_one_agent(viewer_site)
    page.goto(f"{viewer_site.url}/#/compare?a={a}&b={'ab' * 24}")
    expect(page.get_by_role("alert")).to_have_text(f"no run {'ab' * 24} (b)")
    page.goto(f"{viewer_site.url}/#/compare")
    expect(page.locator(".empty-title")).to_have_text("Pick two runs.")
    page.get_by_label("Run A").fill(a)
    page.get_by_label("Run B").fill(a)
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page).to_have_url(f"{viewer_site.url}/#/compare?a={a}&b={a}")
    expect(page.locator(".compare-summary")).to_contain_text("The runs did the same thing.")


@pytest.fixture(scope="module")
def similar(embedded_postgres: PostgresServer) -> Iterator[SimilarSite]:
    with similar_site(embedded_postgres) as site:
        yield site


def test_similar_runs_are_listed_and_lead_to_a_comparison(page: Any, similar: SimilarSite) -> None:
    target = similar.search_failures[0]
    answer = httpx.get(
        f"{similar.url}/v1/runs/{target.id}/similar", params={"limit": 5}, timeout=30
    ).json()
    page.goto(f"{similar.url}/#/runs/{target.id}")
    items = page.locator(".similar-run")
    expect(items).to_have_count(5)
    assert items.evaluate_all("rows => rows.map(row => row.dataset.runId)") == [
        item["run"]["id"] for item in answer["items"]
    ]
    expect(items.first.locator(".similarity")).to_have_text(
        f"{round(answer['items'][0]['similarity'] * 100)}%"
    )
    # a signature is the same under every agent: other-bot's two runs failed this way too
    others = len(similar.search_failures) + len(similar.other_agent) - 1
    expect(page.locator("a.same-failure-link")).to_have_text(
        f"{others} other runs failed the same way"
    )
    page.set_viewport_size({"width": 1280, "height": 1520})  # the run and its similar runs
    save_screenshot(page, "run-similar")
    items.first.get_by_role("link", name="Compare").click()
    other = answer["items"][0]["run"]["id"]
    expect(page).to_have_url(f"{similar.url}/#/compare?a={target.id}&b={other}")
    expect(page.locator("tr.pair").first).to_be_visible()


def test_similar_runs_say_why_they_are_off(page: Any, postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    run = search_refused("research-bot", 3)
    with running_server(database_url, env={"AGENTGUIDE_SIMILAR_RUNS": "off"}) as server:
        send_runs(server.http_url, [run])
        wait_derived(database_url)
        page.goto(f"{server.http_url}/#/runs/{run.id}")
        expect(page.locator(".similar-off")).to_have_text(
            "Similar runs are off: AGENTGUIDE_SIMILAR_RUNS=off is set for this server."
        )
        expect(page.locator("a.same-failure-link, span.same-failure-link")).to_have_text(
            "No other run failed this way"
        )
