"""GET /v1/runs/{id}/steps and /timeline agree with GET /v1/runs/{id}, page by page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.viewer.conftest import ViewerSite

UNKNOWN_RUN = "0" * 47 + "1"


def _time_ms(text: str) -> float:
    """Milliseconds of an RFC 3339 UTC time, exact to the nanosecond digits it has."""
    from datetime import datetime

    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
    return seconds * 1000 + (int(fraction.ljust(9, "0")) / 1e6 if fraction else 0)


def _nested_parent(site: ViewerSite) -> dict[str, Any]:
    """A run that invoked another run through a tool call (its steps nest)."""
    for run in site.api("/v1/runs", limit=500)["items"]:
        if run["parent_run_id"]:
            parent = site.api(f"/v1/runs/{run['parent_run_id']}")
            if any(step["parent_step_id"] for step in parent["steps"]):
                return dict(parent)
    raise AssertionError("the simulator made no delegation through a tool call")


def test_the_timeline_is_the_run_with_its_steps_drawn(viewer_site: ViewerSite) -> None:
    detail = _nested_parent(viewer_site)
    timeline = viewer_site.api(f"/v1/runs/{detail['id']}/timeline")
    for field in ("id", "status", "started_at", "step_count", "error", "agent", "metrics"):
        assert timeline[field] == detail[field]
    assert timeline["artifacts"] == detail["artifacts"]
    steps = timeline["steps"]
    assert steps["count"] == len(detail["steps"]) == detail["step_count"]
    index_of = {step["id"]: step["index"] for step in detail["steps"]}
    run_start = _time_ms(detail["started_at"])
    for position, step in enumerate(detail["steps"]):
        assert steps["index"][position] == step["index"]
        assert steps["kind"][position] == step["kind"]
        assert steps["name"][position] == step["name"]
        assert steps["status"][position] == step["status"]
        assert steps["child_run_id"][position] == step["child_run_id"]
        assert steps["error_type"][position] == (step["error"] or {}).get("type")
        assert steps["parent_index"][position] == index_of.get(step["parent_step_id"])
        offset = _time_ms(step["started_at"]) - run_start
        assert steps["offset_ms"][position] == pytest.approx(offset, abs=0.002)
        assert steps["duration_ms"][position] == pytest.approx(step["duration_ms"], abs=0.001)
    assert any(parent is not None for parent in steps["parent_index"])


def test_the_steps_come_page_by_page_exactly_as_in_the_run(viewer_site: ViewerSite) -> None:
    detail = _nested_parent(viewer_site)
    pages: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = viewer_site.api(f"/v1/runs/{detail['id']}/steps", offset=offset, limit=2)
        assert page["total"] == detail["step_count"]
        assert page["offset"] == offset and page["limit"] == 2
        pages.append(page)
        offset = page["next_offset"]
    assert [step for page in pages for step in page["items"]] == detail["steps"]
    assert len(pages) == -(-len(detail["steps"]) // 2)


def test_a_page_past_the_last_step_is_empty(viewer_site: ViewerSite) -> None:
    run = viewer_site.api("/v1/runs", limit=1)["items"][0]
    page = viewer_site.api(f"/v1/runs/{run['id']}/steps", offset=10_000)
    assert page["items"] == [] and page["next_offset"] is None
    assert page["total"] == run["step_count"]


@pytest.mark.parametrize("suffix", ["/steps", "/timeline"])
def test_unknown_and_malformed_runs_are_refused(viewer_site: ViewerSite, suffix: str) -> None:
    missing = httpx.get(f"{viewer_site.url}/v1/runs/{UNKNOWN_RUN}{suffix}", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    malformed = httpx.get(f"{viewer_site.url}/v1/runs/not-a-run{suffix}", timeout=10)
    assert malformed.status_code == 422
    assert malformed.json()["error"]["parameters"] == ["run_id"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "first"}, "offset"),
        ({"offset": 2**31}, "offset"),
    ],
)
def test_bad_paging_is_refused_with_the_parameter_named(
    viewer_site: ViewerSite, params: dict[str, Any], parameter: str
) -> None:
    run = viewer_site.api("/v1/runs", limit=1)["items"][0]
    response = httpx.get(f"{viewer_site.url}/v1/runs/{run['id']}/steps", params=params, timeout=10)
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == [parameter]


def test_the_openapi_schema_documents_both_routes(viewer_site: ViewerSite) -> None:
    paths = viewer_site.api("/openapi.json")["paths"]
    assert "get" in paths["/v1/runs/{run_id}/steps"]
    timeline = paths["/v1/runs/{run_id}/timeline"]["get"]
    schema = timeline["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/RunTimeline")
    assert not any(path == "/" or path.startswith("/static") for path in paths)
