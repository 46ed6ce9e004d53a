"""Scores over REST: posting on runs and steps, listing, run detail, the runs filter, and the
per-score aggregates of /v1/metrics/summary and /timeseries. Runs are real OTLP spans."""

from __future__ import annotations

import random
from typing import Any

import httpx
import psycopg
import pytest

from tests.api.builders import HOUR_NS, AgentRun, Tool, iso, send_runs, unique
from tests.support import RunningServer, wait_derived

DAY_NS = 24 * HOUR_NS
# A day of its own (around 2031) so that window queries see only this module's runs.
BASE_NS = (22_000 + random.randrange(1000)) * DAY_NS


def post(api: httpx.Client, path: str, body: Any) -> dict[str, Any]:
    response = api.post(path, json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture(scope="module")
def scored(agentguide_server: RunningServer, api: httpx.Client) -> dict[str, Any]:
    """Two runs of one agent an hour apart, and an unscored third; scores on runs and a step."""
    agent = unique("judged")
    good = AgentRun(agent, BASE_NS + 60 * 10**9, 500, tools=[Tool("search", 10, 20)])
    bad = AgentRun(agent, BASE_NS + HOUR_NS + 60 * 10**9, 500, tools=[Tool("search", 10, 20)])
    plain = AgentRun(agent, BASE_NS + 2 * HOUR_NS, 100)
    other = AgentRun(unique("other"), BASE_NS + 3 * DAY_NS, 100)  # outside every window
    send_runs(agentguide_server.http_url, [good, bad, plain, other])
    wait_derived(agentguide_server.database_url)
    good_step = api.get(f"/v1/runs/{good.id}").json()["steps"][0]["id"]
    written = post(
        api,
        f"/v1/runs/{good.id}/scores",
        {"name": "relevance", "value": 0.9, "label": "good", "explanation": "on topic"},
    )
    post(api, f"/v1/runs/{good.id}/steps/{good_step}/scores", {"name": "correctness", "value": 1})
    post(
        api,
        f"/v1/runs/{bad.id}/scores",
        [
            {"name": "relevance", "value": 0.3, "label": "bad"},
            {"name": "relevance", "value": 0.5, "label": "bad"},
            {"name": "helpful", "label": "no", "observed_at": "2025-01-01T00:00:00Z"},
        ],
    )
    return {
        "agent": agent,
        "good": good.id,
        "bad": bad.id,
        "plain": plain.id,
        "other": other.id,
        "good_step": good_step,
        "written": written,
    }


def test_a_posted_score_is_answered_as_written(scored: dict[str, Any]) -> None:
    [score] = scored["written"]["items"]
    assert isinstance(score["id"], int)
    assert {k: v for k, v in score.items() if k not in ("id", "observed_at")} == {
        "run_id": scored["good"],
        "step_id": None,
        "span_id": scored["good"][32:],
        "step_index": None,
        "name": "relevance",
        "value": 0.9,
        "label": "good",
        "explanation": "on topic",
        "error_type": None,
        "source": "api",
    }


def test_run_detail_lists_the_scores_of_the_run_and_its_steps(
    api: httpx.Client, scored: dict[str, Any]
) -> None:
    scores = api.get(f"/v1/runs/{scored['good']}").json()["scores"]
    assert [(s["name"], s["value"], s["step_id"], s["step_index"]) for s in scores] == [
        ("relevance", 0.9, None, None),
        ("correctness", 1.0, scored["good_step"], 0),
    ]
    assert scores[1]["span_id"] == scored["good_step"][32:]
    assert api.get(f"/v1/runs/{scored['plain']}").json()["scores"] == []


def test_scores_of_a_run_page_oldest_judgement_first(
    api: httpx.Client, scored: dict[str, Any]
) -> None:
    first = api.get(f"/v1/runs/{scored['bad']}/scores", params={"limit": 2}).json()
    # The label-only score was judged on 2025-01-01, before the others were posted.
    assert [(s["name"], s["label"]) for s in first["items"]] == [
        ("helpful", "no"),
        ("relevance", "bad"),
    ]
    assert first["items"][0]["observed_at"] == "2025-01-01T00:00:00Z"
    assert first["items"][0]["value"] is None
    rest = api.get(
        f"/v1/runs/{scored['bad']}/scores", params={"limit": 2, "offset": first["next_offset"]}
    ).json()
    assert [s["value"] for s in rest["items"]] == [0.5]
    assert rest["next_offset"] is None


def _run_ids(api: httpx.Client, agent: str, **params: Any) -> set[str]:
    response = api.get("/v1/runs", params={"agent": agent, **params})
    assert response.status_code == 200, response.text
    return {run["id"] for run in response.json()["items"]}


def test_the_score_filter_selects_by_name_range_and_label(
    api: httpx.Client, scored: dict[str, Any]
) -> None:
    agent, good, bad = scored["agent"], scored["good"], scored["bad"]
    assert _run_ids(api, agent) == {good, bad, scored["plain"]}
    assert _run_ids(api, agent, score="relevance") == {good, bad}
    assert _run_ids(api, agent, score="correctness") == {good}  # a step's score
    assert _run_ids(api, agent, score="relevance", score_min=0.6) == {good}
    assert _run_ids(api, agent, score="relevance", score_max=0.3) == {bad}  # inclusive
    assert _run_ids(api, agent, score="relevance", score_min=0.4, score_max=0.5) == {bad}
    assert _run_ids(api, agent, score="relevance", score_min=0.6, score_label="bad") == set()
    assert _run_ids(api, agent, score="relevance", score_label="bad") == {bad}
    assert _run_ids(api, agent, score="helpful", score_min=0) == set()  # no value
    assert _run_ids(api, agent, score="nothing") == set()
    assert _run_ids(api, agent, score="relevance", sort="cost") == {good, bad}
    assert _run_ids(api, agent, score="relevance", tool="search") == {good, bad}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"score_min": "0.5"}, "score_min"),
        ({"score_max": "0.5"}, "score_max"),
        ({"score_label": "x"}, "score_label"),
        ({"score": "r", "score_min": "1", "score_max": "0"}, "score_max"),
        ({"score": "r", "score_min": "nan"}, "score_min"),
        ({"score": "r", "score_max": "inf"}, "score_max"),
        ({"score": "r", "score_min": "high"}, "score_min"),
        ({"score": ""}, "score"),
        ({"score": "a\x00b"}, "score"),
        ({"score": "r", "score_label": "a\x00b"}, "score_label"),
    ],
)
def test_a_bad_score_filter_is_refused_naming_it(
    api: httpx.Client, params: dict[str, str], parameter: str
) -> None:
    response = api.get("/v1/runs", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["parameters"] == [parameter]


def _summary_scores(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/metrics/summary", params=params)
    assert response.status_code == 200, response.text
    return {row["name"]: row for row in response.json()["scores"]}


def test_the_summary_aggregates_each_score(api: httpx.Client, scored: dict[str, Any]) -> None:
    for params in (
        {"agent": scored["agent"]},
        {"since": iso(BASE_NS), "until": iso(BASE_NS + DAY_NS)},
        {"since": iso(BASE_NS), "until": iso(BASE_NS + DAY_NS), "exact": "true"},
    ):
        scores = _summary_scores(api, **params)
        assert scores == {
            "relevance": {
                "name": "relevance",
                "count": 3,
                "value_count": 3,
                "mean": pytest.approx((0.9 + 0.3 + 0.5) / 3),
                "min": 0.3,
                "max": 0.9,
                "error_count": 0,
                "labels": {"bad": 2, "good": 1},
            },
            "correctness": {
                "name": "correctness",
                "count": 1,
                "value_count": 1,
                "mean": 1.0,
                "min": 1.0,
                "max": 1.0,
                "error_count": 0,
                "labels": {},
            },
            "helpful": {
                "name": "helpful",
                "count": 1,
                "value_count": 0,
                "mean": None,
                "min": None,
                "max": None,
                "error_count": 0,
                "labels": {"no": 1},
            },
        }, params
        assert list(scores) == ["relevance", "correctness", "helpful"]  # most frequent first


def test_the_summary_counts_only_the_scores_of_runs_in_the_window(
    api: httpx.Client, scored: dict[str, Any]
) -> None:
    # The first hour holds the good run only.
    scores = _summary_scores(
        api, agent=scored["agent"], since=iso(BASE_NS), until=iso(BASE_NS + HOUR_NS)
    )
    assert {name: row["count"] for name, row in scores.items()} == {
        "relevance": 1,
        "correctness": 1,
    }
    assert _summary_scores(api, agent=unique("nobody")) == {}


def test_the_timeseries_has_each_score_mean_per_bucket(
    api: httpx.Client, scored: dict[str, Any]
) -> None:
    response = api.get(
        "/v1/metrics/timeseries",
        params={
            "agent": scored["agent"],
            "bucket": "1h",
            "since": iso(BASE_NS),
            "until": iso(BASE_NS + 3 * HOUR_NS),
        },
    )
    assert response.status_code == 200, response.text
    buckets = response.json()["buckets"]
    assert [b["runs"] for b in buckets] == [1, 1, 1]
    assert buckets[0]["scores"] == {
        "correctness": {"count": 1, "mean": 1.0},
        "relevance": {"count": 1, "mean": 0.9},
    }
    assert buckets[1]["scores"] == {
        "helpful": {"count": 1, "mean": None},
        "relevance": {"count": 2, "mean": pytest.approx(0.4)},
    }
    assert buckets[2]["scores"] == {}


UNKNOWN = "ab" * 24


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"value": 1}, "score.name"),
        ({"name": "", "value": 1}, "score.name"),
        ({"name": "x" * 513, "value": 1}, "score.name"),
        ({"name": "a\x00b", "value": 1}, "score.name"),
        ({"name": "r"}, "score"),
        ({"name": "r", "value": None, "label": None}, "score"),
        ({"name": "r", "value": "0.5"}, "score.value"),
        ({"name": "r", "value": True}, "score.value"),
        ({"name": "r", "value": [1]}, "score.value"),
        ({"name": "r", "value": 1, "label": 3}, "score.label"),
        ({"name": "r", "value": 1, "explanation": "x" * (256 * 1024 + 1)}, "score.explanation"),
        ({"name": "r", "value": 1, "score": 2}, "score.score"),
        ({"name": "r", "value": 1, "observed_at": "yesterday"}, "score.observed_at"),
        ([], "scores"),
        ([{"name": "r", "value": 1}] * 101, "scores"),
        ([{"name": "r", "value": 1}, {"name": "r"}], "scores.1"),
        (
            [{"name": "r", "value": 1}, {"name": "r", "value": 1, "observed_at": "x"}],
            "scores.1.observed_at",
        ),
        ("relevance", "score"),
        (None, "request"),  # no body at all
    ],
)
def test_a_bad_score_is_refused_naming_the_field(
    api: httpx.Client, scored: dict[str, Any], body: Any, parameter: str
) -> None:
    before = len(api.get(f"/v1/runs/{scored['plain']}/scores").json()["items"])
    response = api.post(f"/v1/runs/{scored['plain']}/scores", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["parameters"][0] == parameter, response.text
    assert len(api.get(f"/v1/runs/{scored['plain']}/scores").json()["items"]) == before


@pytest.mark.parametrize(
    "content",
    [
        b"NaN",
        b'{"name": "r", "value": NaN}',
        b'{"name": "r", "value": Infinity}',
        b'{"name": "\\ud800", "value": 1}',  # an unpaired surrogate: not UTF-8
        b"{",
    ],
)
def test_non_json_numbers_and_broken_bodies_are_refused(
    api: httpx.Client, scored: dict[str, Any], content: bytes
) -> None:
    response = api.post(
        f"/v1/runs/{scored['plain']}/scores",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text


def test_unknown_runs_and_steps_are_not_found(api: httpx.Client, scored: dict[str, Any]) -> None:
    body = {"name": "r", "value": 1}
    good, bad = scored["good"], scored["bad"]
    for path in (
        f"/v1/runs/{UNKNOWN}/scores",
        f"/v1/runs/{good}/steps/{UNKNOWN}/scores",
        f"/v1/runs/{good}/steps/{good[:32] + 'cd' * 8}/scores",
        f"/v1/runs/{bad}/steps/{scored['good_step']}/scores",  # a step of another run
        f"/v1/runs/{good}/steps/{good}/scores",  # the run is not its own step
    ):
        response = api.post(path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    assert api.get(f"/v1/runs/{UNKNOWN}/scores").status_code == 404
    for path in ("/v1/runs/xyz/scores", f"/v1/runs/{good}/steps/{good[:40]}/scores"):
        assert api.post(path, json=body).status_code == 422


def test_ids_are_case_insensitive(api: httpx.Client, scored: dict[str, Any]) -> None:
    answer = post(api, f"/v1/runs/{scored['other'].upper()}/scores", {"name": "up", "value": -2})
    assert answer["items"][0]["run_id"] == scored["other"]
    names = [s["name"] for s in api.get(f"/v1/runs/{scored['other']}/scores").json()["items"]]
    assert names == ["up"]


def test_a_body_over_the_api_limit_is_refused(api: httpx.Client, scored: dict[str, Any]) -> None:
    explanation = "x" * (255 * 1024)
    body = [{"name": "big", "value": 1, "explanation": explanation}] * 20  # about 5 MiB
    response = api.post(f"/v1/runs/{scored['plain']}/scores", json=body)
    assert response.status_code == 413, response.text
    names = [s["name"] for s in api.get(f"/v1/runs/{scored['plain']}/scores").json()["items"]]
    assert "big" not in names


def test_extreme_and_non_finite_values_aggregate_safely(
    agentguide_server: RunningServer, api: httpx.Client
) -> None:
    """Two values near the largest double (their double sum overflows), and the NaN and
    infinities an evaluation event may carry: aggregates take the finite values only."""
    start = BASE_NS + 5 * DAY_NS
    run = AgentRun(unique("extreme"), start, 100)
    not_a_number = AgentRun(run.agent, start + 1000, 100)  # only a NaN score
    send_runs(agentguide_server.http_url, [run, not_a_number])
    wait_derived(agentguide_server.database_url)
    post(api, f"/v1/runs/{run.id}/scores", [{"name": "huge", "value": 1e308}] * 2)
    with psycopg.connect(agentguide_server.database_url, autocommit=True) as conn:
        for value in ("NaN", "Infinity", "-Infinity"):
            conn.execute(
                "INSERT INTO scores (project_id, trace_id, run_span_id, span_id, run_start_ns,"
                " name, value, source, observed_ns) VALUES (1, %s, %s, %s, %s, 'huge', %s,"
                " 'event', %s)",
                (run.trace_id, run.span_id, run.span_id, start, value, start),
            )
        conn.execute(
            "INSERT INTO scores (project_id, trace_id, run_span_id, span_id, run_start_ns,"
            " name, value, source, observed_ns) VALUES (1, %s, %s, %s, %s, 'odd', 'NaN',"
            " 'event', %s)",
            (not_a_number.trace_id, not_a_number.span_id, not_a_number.span_id, start, start),
        )
    window = {"since": iso(start), "until": iso(start + HOUR_NS)}
    summary = _summary_scores(api, **window)
    assert summary["odd"]["count"] == 1
    assert summary["odd"]["mean"] is None
    huge = summary["huge"]
    assert (huge["count"], huge["value_count"]) == (5, 2)
    assert (huge["mean"], huge["min"], huge["max"]) == (1e308, 1e308, 1e308)
    series = api.get("/v1/metrics/timeseries", params={"bucket": "1h", **window}).json()
    assert series["buckets"][0]["scores"] == {
        "huge": {"count": 5, "mean": 1e308},
        "odd": {"count": 1, "mean": None},
    }
    listed = api.get(f"/v1/runs/{run.id}/scores").json()["items"]
    assert sorted(str(s["value"]) for s in listed) == ["1e+308", "1e+308", "None", "None", "None"]
    assert _run_ids(api, run.agent, score="huge", score_min=1e308) == {run.id}
    assert _run_ids(api, run.agent, score="huge", score_min=1.5e308) == {run.id}  # Infinity
    assert _run_ids(api, run.agent, score="huge", score_max=-1.5e308) == {run.id}  # -Infinity
    assert _run_ids(api, run.agent, score="odd") == {not_a_number.id}
    assert _run_ids(api, run.agent, score="odd", score_min=0) == set()  # NaN meets no bound
    assert _run_ids(api, run.agent, score="odd", score_max=0) == set()
