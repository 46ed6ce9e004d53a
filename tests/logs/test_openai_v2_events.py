"""A real capture whose content travels only in log records (opentelemetry-instrumentation-
openai-v2, content capture on): its bodies, posted byte for byte, give a run that shows the
messages. tests/fixtures/openai-v2-events/ has the bodies, the capture script and versions."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support import RunningServer, fixtures_dir, wait_derived

SCENARIOS = sorted((fixtures_dir() / "openai-v2-events").glob("*/expected.json"))


def _post_as_captured(server: RunningServer, body: Path, meta: Path) -> None:
    sent = json.loads(meta.read_text())
    headers = {"Content-Type": sent["content_type"]}
    if sent.get("content_encoding"):
        headers["Content-Encoding"] = sent["content_encoding"]
    response = httpx.post(
        server.http_url + sent["path"], content=body.read_bytes(), headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("expected_path", SCENARIOS, ids=lambda p: p.parent.name)
def test_the_run_shows_the_messages_from_the_events(
    agentguide_server: RunningServer, expected_path: Path
) -> None:
    scenario = expected_path.parent
    expected = json.loads(expected_path.read_text())
    traces = [(b, b.with_name(b.name.replace(".body.bin", ".meta.json")))
              for b in sorted(scenario.glob("*.body.bin"))]  # fmt: skip
    logs = [(b, b.with_name(b.name.replace(".logs.bin", ".logs.meta.json")))
            for b in sorted(scenario.glob("*.logs.bin"))]  # fmt: skip
    assert logs, "the capture has log records"
    for body, meta in [*logs, *traces]:  # the logs first: the records wait for their spans
        _post_as_captured(agentguide_server, body, meta)
    wait_derived(agentguide_server.database_url or "")

    (want,) = expected["runs"]
    run_id = want["trace_id"] + want["span_id"]
    detail = httpx.get(f"{agentguide_server.http_url}/v1/runs/{run_id}").json()
    assert detail["input"] == want["input_summary"]
    assert detail["output"] == want["output_summary"]
    steps = detail["steps"]
    assert [s["span_id"] for s in steps] == [s["span_id"] for s in want["steps"]]
    llm_steps = [s for s in steps if s["kind"] == "llm"]
    for step in llm_steps:
        assert "What's the weather in Paris" in step["input"]
        assert step["output"]
        kinds = [a["type"] for a in step["artifacts"]]
        assert "message" in kinds and "choice" in kinds
    # the last call's messages hold both tool results, in the order they were sent
    last_input = llm_steps[-1]["input"]
    assert last_input.index("Sunny and 21") < last_input.index("69.8 degrees Fahrenheit")
    assert "Done. The tools returned" in llm_steps[-1]["output"]
