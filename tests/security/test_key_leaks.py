"""No key ever appears in the server's log or in an answer, whatever is sent with it."""

from __future__ import annotations

import httpx

from tests.security.conftest import SecuredServer
from tests.security.helpers import grpc_export, post_otlp
from tests.security.spans import agent_run


def _every_use_of_every_key(secured: SecuredServer) -> list[str]:
    """Send each key every way (right and wrong) over each protocol; the answers' texts."""
    base = secured.server.http_url
    answers: list[str] = []
    request, run_id = agent_run("leak-agent")
    for key in secured.keys.values():
        variants = [
            {"Authorization": f"Bearer {key.secret}"},
            {"X-API-Key": key.secret},
            {"Authorization": key.secret},  # malformed: no scheme
            {"Authorization": f"Bearer {key.secret}x"},  # malformed: too long
            {"X-API-Key": key.secret[:-1]},  # malformed: too short
            {"Authorization": f"Bearer {key.secret}", "X-AgentGuide-Project": "nowhere"},
            {"Authorization": f"Bearer {key.secret}", "X-API-Key": "ag_" + "B" * 43},
        ]
        for headers in variants:
            response = post_otlp(base, request, headers)
            answers.append(response.text + str(response.headers))
            _, error = grpc_export(secured.server.grpc_endpoint, request, headers)
            if error is not None:
                answers.append(str(error.details()) + str(error.trailing_metadata()))
            for method, path in (
                ("GET", f"/v1/runs/{run_id}"),
                ("GET", "/v1/runs?limit=1"),
                ("POST", "/v1/runs"),
                ("GET", "/metrics"),
                ("GET", "/v1/auth/status"),
            ):
                answer = httpx.request(method, base + path, headers=headers, json={}, timeout=30)
                answers.append(answer.text + str(answer.headers))
    return answers


def test_keys_never_appear_in_logs_or_answers(secured: SecuredServer) -> None:
    answers = _every_use_of_every_key(secured)
    log = secured.server.log()
    assert '"request_id"' in log  # the debug log was written, in JSON, with request ids
    assert "export refused" in log
    for secret in secured.all_secrets():
        random_part = secret.removeprefix("ag_")
        assert random_part not in log
        for answer in answers:
            assert random_part not in answer
