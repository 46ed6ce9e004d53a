"""Scores and keys: posting needs the ingest scope, reading the read scope, and a score stays
in its project even when another project has a run with the same id."""

from __future__ import annotations

import httpx
import pytest

from tests.otlp_helpers import random_span_id, random_trace_id
from tests.security.conftest import SecuredServer
from tests.security.helpers import post_otlp
from tests.security.spans import agent_run
from tests.support import wait_derived


@pytest.fixture(scope="module")
def twin_run(secured: SecuredServer) -> str:
    """One run id in both projects, of different agents."""
    trace_id, agent_span_id, tool_span_id = random_trace_id(), random_span_id(), random_span_id()
    run_id = ""
    for project in ("alpha", "beta"):
        request, run_id = agent_run(
            f"scored-{project}",
            trace_id=trace_id,
            agent_span_id=agent_span_id,
            tool_span_id=tool_span_id,
        )
        response = post_otlp(
            secured.server.http_url, request, secured.keys[f"{project}-ingest"].bearer()
        )
        assert response.status_code == 200, response.text
    wait_derived(secured.database_url)
    return run_id


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("alpha-read", 403), ("alpha-ingest", 201), ("alpha-admin", 201)],
)
def test_posting_a_score_needs_the_ingest_scope(
    secured: SecuredServer, twin_run: str, key: str | None, status: int
) -> None:
    headers = secured.keys[key].bearer() if key else {}
    response = httpx.post(
        f"{secured.server.http_url}/v1/runs/{twin_run}/scores",
        json={"name": f"by-{key}", "value": 1},
        headers=headers,
    )
    assert response.status_code == status, response.text


def test_reading_scores_needs_the_read_scope(secured: SecuredServer, twin_run: str) -> None:
    url = f"{secured.server.http_url}/v1/runs/{twin_run}/scores"
    assert httpx.get(url, headers=secured.keys["alpha-ingest"].bearer()).status_code == 403
    assert httpx.get(url, headers=secured.keys["alpha-read"].bearer()).status_code == 200


def test_a_score_stays_in_its_project(secured: SecuredServer, twin_run: str) -> None:
    base = secured.server.http_url
    posted = httpx.post(
        f"{base}/v1/runs/{twin_run}/scores",
        json={"name": "alpha-only", "label": "secret"},
        headers=secured.keys["alpha-ingest"].bearer(),
    )
    assert posted.status_code == 201, posted.text
    beta = secured.keys["beta-read"].bearer()
    alpha = secured.keys["alpha-read"].bearer()
    beta_scores = httpx.get(f"{base}/v1/runs/{twin_run}/scores", headers=beta).json()["items"]
    assert "alpha-only" not in [s["name"] for s in beta_scores]
    assert "alpha-only" not in [
        s["name"] for s in httpx.get(f"{base}/v1/runs/{twin_run}", headers=beta).json()["scores"]
    ]
    assert (
        httpx.get(f"{base}/v1/runs", params={"score": "alpha-only"}, headers=beta).json()["items"]
        == []
    )
    assert [
        run["id"]
        for run in httpx.get(
            f"{base}/v1/runs", params={"score": "alpha-only"}, headers=alpha
        ).json()["items"]
    ] == [twin_run]
    summary = httpx.get(f"{base}/v1/metrics/summary", headers=beta).json()
    assert "alpha-only" not in [row["name"] for row in summary["scores"]]
    summary = httpx.get(f"{base}/v1/metrics/summary", headers=alpha).json()
    assert "alpha-only" in [row["name"] for row in summary["scores"]]
