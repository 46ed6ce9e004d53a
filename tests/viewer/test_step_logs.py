"""A step's own log records are listed in its panel; its events are not listed again."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.logs.helpers import logs_request, make_record, post_logs
from tests.logs.scenario import AGENT, TOOL, event_scenario
from tests.otlp_helpers import make_request, post_protobuf
from tests.support import wait_derived
from tests.viewer.conftest import ViewerSite

expect = pytest.importorskip(
    "playwright.sync_api", reason="viewer browser tests skipped: Playwright is not installed"
).expect


def test_the_step_panel_lists_the_steps_logs(page: Any, viewer_site: ViewerSite) -> None:
    trace_id = os.urandom(16)
    scenario = event_scenario(trace_id)
    assert post_protobuf(viewer_site.url, make_request(scenario.spans)).status_code == 200
    warning = make_record(trace_id, TOOL, body={"retry": 2, "why": "slow upstream"}, severity=13,
                          time_ns=scenario.spans[2].start_time_unix_nano + 7)  # fmt: skip
    warning.severity_text = ""  # the panel names the level from the number: 13 is WARN
    response = post_logs(viewer_site.url, logs_request([*scenario.records, warning]))
    assert response.status_code == 200
    wait_derived(viewer_site.database_url)

    run_id = trace_id.hex() + AGENT.hex()
    tool_step = next(
        s for s in viewer_site.api(f"/v1/runs/{run_id}")["steps"] if s["kind"] == "tool"
    )
    page.goto(f"{viewer_site.url}/#/runs/{run_id}?step={tool_step['index']}")
    logs = page.locator(".detail-panel .step-logs")
    expect(logs.locator("h3")).to_have_text("Logs (2)")
    expect(logs.locator(".log-record")).to_have_count(2)
    expect(logs.locator(".log-record").first).to_contain_text("calc called with 2+2")
    expect(logs.locator(".log-record").nth(1)).to_have_attribute("data-severity", "WARN")

    llm_step = next(s for s in viewer_site.api(f"/v1/runs/{run_id}")["steps"] if s["kind"] == "llm")
    page.goto(f"{viewer_site.url}/#/runs/{run_id}?step={llm_step['index']}")
    detail = page.locator(".detail-panel .detail")
    expect(detail).to_have_attribute("data-step-index", str(llm_step["index"]))
    expect(detail).to_contain_text("What is 2+2?")
    expect(detail.locator(".step-logs")).to_be_hidden()
