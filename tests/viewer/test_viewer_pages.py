"""The viewer in headless Chromium against a server filled by the simulator."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.viewer.browser import PHONE, save_screenshot
from tests.viewer.conftest import LIVE_AGENT, ViewerSite

expect = pytest.importorskip(
    "playwright.sync_api", reason="viewer browser tests skipped: Playwright is not installed"
).expect


def open_view(page: Any, site: ViewerSite, route: str) -> None:
    page.goto(f"{site.url}/#{route}")


def percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def first_failed_tool_run(site: ViewerSite) -> tuple[dict[str, Any], dict[str, Any]]:
    """A failed top-level run whose first failed step is a tool call, and that step."""
    cursor = None
    while True:
        page = site.api(
            "/v1/runs", status="FAILED", limit=100, **({"cursor": cursor} if cursor else {})
        )
        for run in page["items"]:
            if run["parent_run_id"]:
                continue
            detail = site.api(f"/v1/runs/{run['id']}")
            failed = [step for step in detail["steps"] if step["status"] == "FAILED"]
            if failed and failed[0]["kind"] == "tool" and failed[0]["error"]:
                return detail, failed[0]
        cursor = page["next_cursor"]
        assert cursor, "the simulator made no run that failed in a tool call"


def test_the_runs_table_lists_the_runs_newest_first(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/runs")
    rows = page.locator("tr.run-row")
    expected = [run["id"] for run in viewer_site.api("/v1/runs", limit=50)["items"]]
    expect(rows).to_have_count(len(expected))
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.runId)") == expected
    expect(page.get_by_role("link", name="Runs", exact=True).first).to_have_attribute(
        "aria-current", "page"
    )
    save_screenshot(page, "runs")


def test_filtering_by_status_failed_shows_only_failed_runs(
    page: Any, viewer_site: ViewerSite
) -> None:
    open_view(page, viewer_site, "/runs")
    expect(page.locator("tr.run-row").first).to_be_visible()
    page.get_by_label("Status", exact=True).select_option("FAILED")
    expect(page).to_have_url(f"{viewer_site.url}/#/runs?status=FAILED")
    failed = viewer_site.api("/v1/runs", status="FAILED", limit=50)["items"]
    assert failed, "the simulator made no failed run"
    rows = page.locator("tr.run-row")
    expect(rows).to_have_count(len(failed))
    expect(page.locator('tr.run-row:not([data-status="FAILED"])')).to_have_count(0)
    expect(page.locator("tr.run-row .badge.status-failed")).to_have_count(len(failed))
    save_screenshot(page, "runs-failed")


def test_the_filters_live_in_the_link(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/runs?agent=weather-agent&status=SUCCESS&range=24h")
    expect(page.get_by_label("Agent", exact=True)).to_have_value("weather-agent")
    expect(page.get_by_label("Status", exact=True)).to_have_value("SUCCESS")
    expect(page.get_by_label("Started", exact=True)).to_have_value("24h")
    expected = viewer_site.api("/v1/runs", agent="weather-agent", status="SUCCESS", limit=50)
    expect(page.locator("tr.run-row")).to_have_count(len(expected["items"]))
    names = page.locator("tr.run-row .run-link").all_inner_texts()
    assert set(names) == {"weather-agent"}


def test_paging_moves_through_older_runs(page: Any, viewer_site: ViewerSite) -> None:
    first = viewer_site.api("/v1/runs", limit=50)
    second = viewer_site.api("/v1/runs", limit=50, cursor=first["next_cursor"])
    open_view(page, viewer_site, "/runs")
    expect(page.locator("tr.run-row")).to_have_count(50)
    page.get_by_role("button", name="Older →").click()
    expect(page.locator("tr.run-row").first).to_have_attribute(
        "data-run-id", second["items"][0]["id"]
    )
    page.get_by_role("button", name="← Newer").click()
    expect(page.locator("tr.run-row").first).to_have_attribute(
        "data-run-id", first["items"][0]["id"]
    )


def test_a_running_run_is_shown_in_progress(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/runs?status=RUNNING")
    row = page.locator(f'tr.run-row[data-run-id="{viewer_site.live_run_id}"]')
    expect(row.locator(".badge.status-running .spinner")).to_be_visible()
    expect(row.locator(".running-duration")).to_contain_text("…")
    row.locator(".run-link").click()
    expect(page.locator(".run-title h1")).to_have_text(LIVE_AGENT)
    expect(page.locator(".wf-bar.running").first).to_be_visible()
    save_screenshot(page, "run-running")


def test_a_failed_run_opens_on_its_failing_step(page: Any, viewer_site: ViewerSite) -> None:
    run, step = first_failed_tool_run(viewer_site)
    open_view(page, viewer_site, "/runs/" + run["id"])
    detail = page.locator(".detail-panel .detail")
    expect(detail).to_have_attribute("data-step-index", str(step["index"]))
    expect(detail).to_have_attribute("data-step-status", "FAILED")
    expect(detail.locator(".error-message")).to_have_text(step["error"]["message"])
    expect(page.locator(".wf-row.selected")).to_have_class(
        "wf-row status-failed selected", timeout=5000
    )
    expect(page.locator(".wf-row:not([hidden])")).to_have_count(
        len(run["steps"]) + 1 + _child_rows(viewer_site, run)
    )
    expect(page.locator(".run-title .badge.status-failed")).to_be_visible()
    expect(page.locator(".trace-id")).to_have_text(run["trace_id"])
    expect(page).to_have_url(f"{viewer_site.url}/#/runs/{run['id']}?step={step['index']}")
    save_screenshot(page, "run")


def _child_rows(site: ViewerSite, run: dict[str, Any]) -> int:
    """Rows the waterfall adds for the nested runs it expands on its own (all, here)."""
    return sum(site.api(f"/v1/runs/{child['id']}")["step_count"] for child in run["child_runs"])


def test_the_skip_link_leads_to_the_content(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/agents")
    expect(page.locator(".agents-table")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    expect(page).to_have_url(f"{viewer_site.url}/#/agents")
    page.keyboard.press("Tab")
    expect(page.locator(".agents-table a").first).to_be_focused()


@pytest.mark.console_errors("status of 404")
def test_an_unknown_run_says_so(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/runs/" + "ab" * 24)
    expect(page.get_by_role("alert")).to_have_text(f"There is no run {'ab' * 24}.")


def test_a_step_link_selects_that_step(page: Any, viewer_site: ViewerSite) -> None:
    run = viewer_site.api("/v1/runs", status="SUCCESS", limit=1)["items"][0]
    open_view(page, viewer_site, f"/runs/{run['id']}?step=1")
    detail = page.locator(".detail-panel .detail")
    expect(detail).to_have_attribute("data-step-index", "1")
    step = viewer_site.api(f"/v1/runs/{run['id']}/steps", offset=1, limit=1)["items"][0]
    expect(detail.locator(".detail-title")).to_have_text(step["name"])


def test_the_waterfall_is_keyboard_navigable(page: Any, viewer_site: ViewerSite) -> None:
    runs = viewer_site.api("/v1/runs", has_error="false", limit=100)["items"]
    run = next(run for run in runs if run["step_count"] > 2 and not run["parent_run_id"])
    run = viewer_site.api(f"/v1/runs/{run['id']}")
    nested = _child_rows(viewer_site, run)
    open_view(page, viewer_site, f"/runs/{run['id']}")
    tree = page.get_by_role("tree")
    expect(page.locator(".detail-panel .detail")).to_have_attribute("data-step-index", "run")
    tree.focus()
    tree.press("ArrowDown")
    expect(page.locator(".detail-panel .detail")).to_have_attribute("data-step-index", "0")
    tree.press("End")
    expect(page.locator(".wf-row.selected")).to_have_attribute(
        "data-index", str(len(run["steps"]) + nested)
    )
    tree.press("Home")
    expect(page.locator(".wf-row.selected")).to_have_attribute("aria-level", "1")
    tree.press("ArrowLeft")
    expect(page.locator(".wf-row:not([hidden])")).to_have_count(1)
    tree.press("ArrowRight")
    expect(page.locator(".wf-row:not([hidden])")).to_have_count(len(run["steps"]) + 1 + nested)


def test_nested_runs_are_indented_and_collapsible(page: Any, viewer_site: ViewerSite) -> None:
    parent_ids = {
        run["parent_run_id"]
        for run in viewer_site.api("/v1/runs", limit=500)["items"]
        if run["parent_run_id"]
    }
    parent = viewer_site.api(f"/v1/runs/{sorted(parent_ids)[0]}")
    agent_step = next(step for step in parent["steps"] if step["child_run_id"])
    child = viewer_site.api(f"/v1/runs/{agent_step['child_run_id']}")
    open_view(page, viewer_site, f"/runs/{parent['id']}?step={agent_step['index']}")
    selected = page.locator(".wf-row.selected")
    expect(selected).to_have_attribute("aria-expanded", "true")
    level = int(selected.get_attribute("aria-level") or "0")
    total = len(parent["steps"]) + 1 + _child_rows(viewer_site, parent)
    expect(page.locator(".wf-row:not([hidden])")).to_have_count(total)
    nested = page.locator(f'.wf-row[aria-level="{level + 1}"]')
    assert nested.count() >= child["step_count"]
    expect(page.locator(".detail-panel .detail")).to_have_attribute(
        "data-step-index", str(agent_step["index"])
    )
    save_screenshot(page, "run-nested")
    page.get_by_role("tree").press("Enter")
    expect(selected).to_have_attribute("aria-expanded", "false")
    expect(page.locator(".wf-row:not([hidden])")).to_have_count(total - child["step_count"])


def test_the_dashboard_shows_the_summary_success_rate(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/dashboard?range=24h")
    card = page.locator('[data-kpi="success-rate"]')
    expect(card).to_have_attribute("data-value", re.compile(r"\d"))
    root = page.locator(".page-dashboard")
    since, until = root.get_attribute("data-since"), root.get_attribute("data-until")
    summary = viewer_site.api("/v1/metrics/summary", since=since, until=until)
    assert summary["runs"]["total"] > 0
    expect(card.locator(".kpi-value")).to_have_text(percent(summary["success_rate"]))
    assert float(card.get_attribute("data-value") or "nan") == summary["success_rate"]
    expect(page.locator('[data-kpi="runs"] .kpi-value')).to_have_text(
        f"{summary['runs']['total']:,}"
    )
    expect(page.locator(".chart-svg")).to_have_count(3)
    assert page.locator(".chart-svg .series-failed").count() > 0
    expect(page.locator(".failing-tools .hbar")).to_have_count(len(summary["top_failing_tools"]))
    save_screenshot(page, "dashboard")


def test_the_dashboard_follows_the_chosen_agent(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/dashboard?range=7d")
    expect(page.locator('[data-kpi="success-rate"]')).to_be_visible()
    expect(page.get_by_label("Agent", exact=True).locator("option")).not_to_have_count(1)
    page.get_by_label("Agent", exact=True).select_option("billing-agent")
    expect(page).to_have_url(f"{viewer_site.url}/#/dashboard?agent=billing-agent&range=7d")
    root = page.locator(".page-dashboard")
    expect(root).to_have_attribute("data-agent", "billing-agent")
    summary = viewer_site.api(
        "/v1/metrics/summary",
        agent="billing-agent",
        since=root.get_attribute("data-since"),
        until=root.get_attribute("data-until"),
    )
    expect(page.locator('[data-kpi="success-rate"] .kpi-value')).to_have_text(
        percent(summary["success_rate"])
    )


def test_the_agents_page_lists_every_agent(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/agents")
    agents = viewer_site.api("/v1/agents")["items"]
    rows = page.locator(".agents-table tbody tr")
    expect(rows).to_have_count(len(agents))
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.agent)") == [
        agent["name"] for agent in agents
    ]
    save_screenshot(page, "agents")


def test_the_tools_page_lists_every_tool(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/tools")
    tools = viewer_site.api("/v1/tools")["items"]
    rows = page.locator(".tools-table tbody tr")
    expect(rows).to_have_count(len(tools))
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.tool)") == [
        tool["tool"] for tool in tools
    ]
    save_screenshot(page, "tools")


def test_views_fit_a_phone(browser: Any, viewer_site: ViewerSite) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        run, _ = first_failed_tool_run(viewer_site)
        for name, route, ready in [
            ("runs-phone", "/runs", "tr.run-row"),
            ("run-phone", f"/runs/{run['id']}", ".detail-panel .detail"),
            ("dashboard-phone", "/dashboard", ".kpi"),
        ]:
            open_view(page, viewer_site, route)
            expect(page.locator(ready).first).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{name} is {width}px wide"
            save_screenshot(page, name)
    finally:
        context.close()
