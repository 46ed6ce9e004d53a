"""Events sent as log records reach the derived model through a running server: the run shows
the messages, evaluation events are scores, plain logs are listed on their step, and the
result does not depend on whether the logs came before, between or after the spans."""

from __future__ import annotations

import os
import random
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.derived_state import derived_state
from tests.logs.helpers import logs_request, make_record, post_logs
from tests.logs.scenario import AGENT, LLM, TOOL, event_scenario
from tests.otlp_helpers import make_request, post_protobuf
from tests.support import RunningServer, wait_derived


def _send_spans(server: RunningServer, spans: list[Any]) -> None:
    response = post_protobuf(server.http_url, make_request(spans, service_name="log-events"))
    assert response.status_code == 200, response.text


def _send_logs(server: RunningServer, records: list[Any]) -> None:
    response = post_logs(server.http_url, logs_request(records))
    assert response.status_code == 200, response.text
    assert not response.content or b"rejected" not in response.content


def _scores(database_url: str, trace_id: bytes) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT run_span_id, span_id, name, value, label, explanation, error_type, source, "
            "observed_ns FROM scores WHERE trace_id = %s ORDER BY name",
            (trace_id,),
        ).fetchall()
    return [tuple(row) for row in rows]


def test_a_run_shows_messages_scores_and_logs_from_log_records(
    agentguide_server: RunningServer,
) -> None:
    server = agentguide_server
    database_url = server.database_url or ""
    trace_id = os.urandom(16)
    scenario = event_scenario(trace_id)
    _send_spans(server, scenario.spans)
    _send_logs(server, scenario.records)
    wait_derived(database_url)

    run_id = trace_id.hex() + AGENT.hex()
    detail = httpx.get(f"{server.http_url}/v1/runs/{run_id}").json()
    assert detail["input"] == "What is 2+2?"
    assert detail["output"] == "4"
    llm_step = next(step for step in detail["steps"] if step["kind"] == "llm")
    assert "What is 2+2?" in llm_step["input"]
    names = [a["name"] for a in llm_step["artifacts"] if a["span_id"] == LLM.hex()]
    assert names == ["gen_ai.system.message", "gen_ai.user.message", "gen_ai.choice"]
    listed = httpx.get(f"{server.http_url}/v1/runs", params={"trace_id": trace_id.hex()}).json()[
        "items"
    ]
    assert any(run["id"] == run_id and run["input"] == "What is 2+2?" for run in listed)

    scores = _scores(database_url, trace_id)
    assert [(bytes(r[0]), bytes(r[1]), r[2], r[3], r[4], r[6], r[7]) for r in scores] == [
        (AGENT, AGENT, "relevance", 0.9, "relevant", None, "event"),
        (AGENT, LLM, "toxicity", None, None, "timeout", "event"),
    ]

    # The evaluation events are the run's scores in its detail and in the KPIs.
    by_name = {score["name"]: score for score in detail["scores"]}
    assert by_name["relevance"]["value"] == 0.9 and by_name["relevance"]["source"] == "event"
    assert by_name["toxicity"]["error_type"] == "timeout"
    summary = httpx.get(
        f"{server.http_url}/v1/metrics/summary", params={"since": "2023-11-14T00:00:00Z",
                                                          "until": "2023-11-16T00:00:00Z"}
    ).json()  # fmt: skip
    relevance = next(a for a in summary["scores"] if a["name"] == "relevance")
    assert relevance["count"] >= 1 and relevance["max"] == 0.9

    logs = httpx.get(
        f"{server.http_url}/v1/traces/{trace_id.hex()}/logs", params={"span_id": TOOL.hex()}
    )
    assert logs.status_code == 200
    (line,) = logs.json()["logs"]
    assert line["body"] == "calc called with 2+2"
    assert line["span_id"] == TOOL.hex()
    assert line["severity_number"] == 9 and line["event_name"] is None
    everything = httpx.get(f"{server.http_url}/v1/traces/{trace_id.hex()}/logs").json()
    assert len(everything["logs"]) == len(scenario.records)

    # Re-delivered logs change nothing: no duplicate scores, the same rows.
    before = derived_state(database_url, trace_id)
    _send_logs(server, scenario.records[::-1])
    wait_derived(database_url)
    assert _scores(database_url, trace_id) == scores
    assert derived_state(database_url, trace_id) == before


def _state(database_url: str, trace_id: bytes) -> dict[str, Any]:
    state: dict[str, Any] = derived_state(database_url, trace_id)
    state["scores"] = [
        tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
        for row in _scores(database_url, trace_id)
    ]
    return state


@pytest.mark.parametrize("order", ["logs_first", "between", "logs_last", "together"])
def test_logs_before_between_or_after_spans_derive_alike(
    agentguide_server: RunningServer, order: str
) -> None:
    server = agentguide_server
    database_url = server.database_url or ""
    reference_trace, trace_id = os.urandom(16), os.urandom(16)
    reference = event_scenario(reference_trace)
    _send_spans(server, reference.spans)
    _send_logs(server, reference.records)
    wait_derived(database_url)

    scenario = event_scenario(trace_id)
    spans, records = scenario.spans, scenario.records
    if order == "logs_first":
        _send_logs(server, records)
        wait_derived(database_url)
        _send_spans(server, spans)
    elif order == "between":
        _send_spans(server, spans[:1])
        wait_derived(database_url)
        _send_logs(server, records[:3])
        wait_derived(database_url)
        _send_spans(server, spans[1:])
        wait_derived(database_url)
        _send_logs(server, records[3:])
    elif order == "logs_last":
        _send_spans(server, spans)
        wait_derived(database_url)
        _send_logs(server, records)
    else:
        _send_logs(server, records)
        _send_spans(server, spans)
    wait_derived(database_url)
    expected = _state(database_url, reference_trace)
    got = _state(database_url, trace_id)
    assert got["scores"] and got == {
        **expected,
        "scores": [tuple(v if v != reference_trace else trace_id for v in row)
                   for row in expected["scores"]],
    }  # fmt: skip


def test_evaluation_without_its_span_waits_for_it(agentguide_server: RunningServer) -> None:
    database_url = agentguide_server.database_url or ""
    trace_id = os.urandom(16)
    scenario = event_scenario(trace_id)
    evaluation = make_record(
        trace_id, AGENT, event_name="gen_ai.evaluation.result",
        attributes={"gen_ai.evaluation.name": "late", "gen_ai.evaluation.score.value": 1},
    )  # fmt: skip
    _send_logs(agentguide_server, [evaluation])
    wait_derived(database_url)
    assert _scores(database_url, trace_id) == []
    _send_spans(agentguide_server, scenario.spans)
    wait_derived(database_url)
    assert [row[2] for row in _scores(database_url, trace_id)] == ["late"]


@settings(
    max_examples=int(os.environ.get("AGENTGUIDE_PROPERTY_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), duplicate=st.booleans())
def test_any_interleaving_of_spans_and_logs_derives_alike(
    agentguide_server: RunningServer, seed: int, duplicate: bool
) -> None:
    """Spans and log records in random pieces, random order, with repeats and derivations in
    between, give the rows (and scores) of sending them all at once."""
    server = agentguide_server
    database_url = server.database_url or ""
    rng = random.Random(seed)
    reference_trace, trace_id = os.urandom(16), os.urandom(16)
    reference = event_scenario(reference_trace)
    _send_spans(server, reference.spans)
    _send_logs(server, reference.records)
    wait_derived(database_url)

    scenario = event_scenario(trace_id)
    pieces: list[tuple[str, list[Any]]] = [("spans", [s]) for s in scenario.spans]
    pieces += [("logs", [r]) for r in scenario.records]
    if duplicate:
        pieces += rng.sample(pieces, k=3)
    rng.shuffle(pieces)
    for kind, items in pieces:
        (_send_spans if kind == "spans" else _send_logs)(server, items)
        if rng.random() < 0.3:
            wait_derived(database_url)
    wait_derived(database_url)
    expected = _state(database_url, reference_trace)
    expected["scores"] = [
        tuple(v if v != reference_trace else trace_id for v in row) for row in expected["scores"]
    ]
    assert _state(database_url, trace_id) == expected


def test_hostile_event_records_do_not_stall_derivation(agentguide_server: RunningServer) -> None:
    server = agentguide_server
    database_url = server.database_url or ""
    trace_id = os.urandom(16)
    scenario = event_scenario(trace_id)
    nested: Any = "leaf"
    for _ in range(20):  # protobuf parses 100 message levels deep at most
        nested = {"deeper": nested}
    hostile = [
        make_record(trace_id, AGENT, event_name="gen_ai.evaluation.result",
                    attributes={"gen_ai.evaluation.name": "n\x00" + "x" * 5000,
                                "gen_ai.evaluation.score.value": float("nan"),
                                "gen_ai.evaluation.explanation": "e\x00" * 50_000}),
        make_record(trace_id, LLM, event_name="gen_ai.user.message\x00",
                    body={"content": "\x00" * 10, "nested": nested}),
        make_record(trace_id, LLM, event_name="gen_ai.choice", body=["not", "a", "message"]),
        make_record(trace_id, TOOL, event_name="exception",
                    attributes={"exception.type": "E\x00", "exception.message": "m" * 100_000}),
    ]  # fmt: skip
    _send_spans(server, scenario.spans)
    _send_logs(server, scenario.records + hostile)
    wait_derived(database_url)
    with psycopg.connect(database_url) as conn:
        quarantined = conn.execute(
            "SELECT count(*) FROM derive_quarantine WHERE trace_id = %s", (trace_id,)
        ).fetchone()
    assert quarantined == (0,)
    names = [row[2] for row in _scores(database_url, trace_id)]
    assert "relevance" in names and "toxicity" in names
    (odd,) = [name for name in names if name.startswith("n")]
    assert "\x00" not in odd and len(odd.encode()) <= 1024
    run_id = trace_id.hex() + AGENT.hex()
    detail = httpx.get(f"{server.http_url}/v1/runs/{run_id}")
    assert detail.status_code == 200
    assert detail.json()["input"] == "What is 2+2?"
