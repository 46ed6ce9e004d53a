"""Alerts end to end: rules through the admin API and the CLI, evaluated by a running
``agentguide serve`` from the rollups, webhooks POSTed to a real local receiver that is down
for a while (retried, then delivered once), resolved, and resumed after a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from tests.api.builders import AgentRun, Tool, send_runs
from tests.security.helpers import agentguide, create_key
from tests.support import PostgresServer, RunningServer, running_server, start_server, wait_derived
from tests.triage.webhook_receiver import Receiver, unused_port

PUBLIC_URL = "http://agentguide.test"
FAST_ALERTS = {"AGENTGUIDE_ALERT_INTERVAL_S": "0.5", "AGENTGUIDE_PUBLIC_URL": PUBLIC_URL}


def recent_run(agent: str, failed: bool, minutes_ago: float = 5) -> AgentRun:
    error = ("HTTPError", "payments answered 503") if failed else None
    return AgentRun(
        agent,
        time.time_ns() - int(minutes_ago * 60 * 10**9),
        200,
        tools=[Tool("charge", 10, 50, error)],
        error=error,
    )


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def deliveries(server: RunningServer, rule_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.http_url}/v1/admin/alerts/{rule_id}/deliveries", timeout=30)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def add_rule(server: RunningServer, **fields: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.http_url}/v1/admin/alerts", json=fields, timeout=30)
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    return rule


@pytest.fixture
def server(postgres: PostgresServer) -> Iterator[RunningServer]:
    database_url = postgres.create_database()
    with running_server(database_url, env=FAST_ALERTS) as running:
        yield running


def test_a_receiver_down_for_a_while_gets_the_alert_once(server: RunningServer) -> None:
    assert server.database_url is not None
    send_runs(server.http_url, [recent_run("checkout-bot", failed=n < 3) for n in range(4)])
    send_runs(server.http_url, [recent_run("other-bot", failed=False) for _ in range(5)])
    wait_derived(server.database_url)
    port = unused_port()  # nothing listens there yet: every attempt is refused
    rule = add_rule(
        server,
        name="checkout failures",
        metric="failure_rate",
        threshold=0.5,
        window_seconds=3600,
        agent="checkout-bot",
        webhook_url=f"http://127.0.0.1:{port}/hooks/agentguide",
    )
    assert rule["secret"].startswith("whsec_")

    def refused_three_times() -> list[dict[str, Any]] | None:
        items = deliveries(server, rule["id"])
        return items if items and len(items[0]["log"]) >= 3 else None

    (pending,) = wait_for("three refused attempts", refused_three_times)
    assert pending["status"] == "pending"
    assert pending["event"] == "firing"
    assert all(a["outcome"] == "retrying" and a["status_code"] is None for a in pending["log"])
    assert "ConnectError" in pending["log"][0]["error"]
    retries = [a["retry_in_seconds"] for a in pending["log"]]
    assert retries[1] > retries[0]  # backing off
    listed = httpx.get(f"{server.http_url}/v1/admin/alerts/{rule['id']}", timeout=30).json()
    assert listed["status"] == "firing"
    assert listed["last_value"] == pytest.approx(0.75)
    assert "secret" not in listed

    receiver = Receiver(port=port)
    try:

        def delivered() -> dict[str, Any] | None:
            first = deliveries(server, rule["id"])[0]
            return first if first["status"] == "delivered" else None

        done = wait_for("the delivery", delivered)
        assert len(receiver.received) == 1
        request = receiver.received[0]
        assert request.headers["webhook-id"] == done["message_id"]
        event = Webhook(rule["secret"]).verify(request.body, request.headers)
        assert event["type"] == "alert.firing"
        assert event["data"]["rule"]["id"] == rule["id"]
        assert event["data"]["value"] == pytest.approx(0.75)
        assert event["data"]["episode"] == 1
        assert event["data"]["link"] == f"{PUBLIC_URL}/#/runs?agent=checkout-bot&has_error=true"
        assert [a["outcome"] for a in done["log"]][-1] == "delivered"
        assert done["log"][-1]["status_code"] == 200
        assert done["attempts"] == len(done["log"]) >= 4

        # Firing on: no new notification, and the delivered one is never sent again.
        rule_url = f"{server.http_url}/v1/admin/alerts/{rule['id']}"
        for _ in range(3):
            evaluated = httpx.get(rule_url, timeout=30).json()["evaluated_at"]
            wait_for(
                "another evaluation",
                lambda before=evaluated: (
                    httpx.get(rule_url, timeout=30).json()["evaluated_at"] != before
                ),
            )
        time.sleep(1.0)  # a delivery due now would have been made
        assert len(receiver.received) == 1
        assert len(deliveries(server, rule["id"])) == 1

        # Enough successes bring the rate under the threshold: one resolved notification.
        send_runs(server.http_url, [recent_run("checkout-bot", failed=False) for _ in range(8)])
        wait_for("the resolved notification", lambda: len(receiver.received) == 2)
        resolved = Webhook(rule["secret"]).verify(
            receiver.received[1].body, receiver.received[1].headers
        )
        assert resolved["type"] == "alert.resolved"
        assert resolved["data"]["episode"] == 1
        assert resolved["data"]["resolved_at"] is not None
        assert receiver.received[1].headers["webhook-id"] != request.headers["webhook-id"]
    finally:
        receiver.close()


def test_delivery_resumes_after_a_restart(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    port = unused_port()
    first = start_server(database_url, env=FAST_ALERTS)
    try:
        send_runs(first.http_url, [recent_run("checkout-bot", failed=True) for _ in range(2)])
        wait_derived(database_url)
        rule = add_rule(
            first,
            name="any failed run",
            metric="signature_count",
            signature=httpx.get(f"{first.http_url}/v1/failures", timeout=30).json()["items"][0][
                "signature"
            ],
            comparison=">=",
            threshold=1,
            window_seconds=3600,
            webhook_url=f"http://127.0.0.1:{port}/hook",
            format="slack",
        )
        wait_for(
            "a refused attempt",
            lambda: any(item["log"] for item in deliveries(first, rule["id"])),
        )
    finally:
        first.stop()
    receiver = Receiver(port=port)
    try:
        with running_server(database_url, env=FAST_ALERTS) as second:
            wait_for(
                "the delivery after the restart",
                lambda: deliveries(second, rule["id"])[0]["status"] == "delivered",
            )
            (only,) = deliveries(second, rule["id"])
        assert len(receiver.received) == 1
        body = json.loads(receiver.received[0].body)
        assert body["text"].startswith(":rotating_light: [FIRING] any failed run: value 2")
        assert only["attempts"] >= 2
    finally:
        receiver.close()


def test_rules_from_the_command_line(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    db = ("--database-url", database_url)
    added = agentguide(
        "alerts", "add", "--name", "slow checkout", "--metric", "p95_duration_ms",
        "--threshold", "2500", "--window", "15m", "--agent", "checkout-bot",
        "--webhook-url", "http://127.0.0.1:9/hook", *db,
    )  # fmt: skip
    rule_id = added.stdout.strip()
    assert "signing secret (shown only now): whsec_" in added.stderr
    listed = agentguide("alerts", "list", *db).stdout
    assert rule_id in listed
    assert "p95_duration_ms > 2500 over 15m (agent checkout-bot)" in listed
    (document,) = json.loads(agentguide("alerts", "list", "--json", *db).stdout)
    assert document["id"] == rule_id
    assert document["status"] == "ok"
    assert document["window_seconds"] == 900
    with psycopg.connect(database_url) as conn:
        secret = conn.execute("SELECT secret FROM alert_rules").fetchone()
    assert secret is not None and secret[0] in added.stderr
    nope = agentguide("alerts", "list", "--project", "nope", *db, check=False)
    assert nope.returncode == 2
    assert "there is no project 'nope'" in nope.stderr

    bad = agentguide(
        "alerts", "add", "--name", "x", "--metric", "failure_rate", "--threshold", "3",
        "--window", "15m", "--webhook-url", "http://127.0.0.1:9/hook", *db, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "a failure_rate threshold is a fraction between 0 and 1" in bad.stderr
    window = agentguide(
        "alerts", "add", "--name", "x", "--metric", "run_count", "--threshold", "3",
        "--window", "soon", "--webhook-url", "http://127.0.0.1:9/hook", *db, check=False,
    )  # fmt: skip
    assert window.returncode == 2
    assert "window:" in window.stderr
    unknown = agentguide(
        "alerts", "add", "--project", "nope", "--name", "x", "--metric", "run_count",
        "--threshold", "3", "--window", "1h", "--webhook-url", "http://127.0.0.1:9/h", *db,
        check=False,
    )  # fmt: skip
    assert unknown.returncode == 2
    assert "there is no project 'nope'" in unknown.stderr

    assert agentguide("alerts", "delete", rule_id, *db).returncode == 0
    assert json.loads(agentguide("alerts", "list", "--json", *db).stdout) == []
    again = agentguide("alerts", "delete", rule_id, *db, check=False)
    assert again.returncode == 1
    assert f"there is no rule {rule_id}" in again.stderr


def test_the_admin_api_needs_an_admin_key_and_keeps_projects_apart(
    postgres: PostgresServer,
) -> None:
    database_url = postgres.create_database()
    agentguide("migrate", "--database-url", database_url)
    admin = create_key(database_url, "shop", "admin")
    reader = create_key(database_url, "shop", "read")
    other = create_key(database_url, "blog", "admin")
    with running_server(database_url, "--auth", "required") as server:
        url = f"{server.http_url}/v1/admin/alerts"
        assert httpx.get(url, timeout=30).status_code == 401
        assert httpx.get(url, headers=reader.bearer(), timeout=30).status_code == 403
        fields = {
            "name": "errors",
            "metric": "run_count",
            "threshold": 100,
            "window_seconds": 600,
            "webhook_url": "http://127.0.0.1:9/hook",
        }
        created = httpx.post(url, json=fields, headers=admin.bearer(), timeout=30)
        assert created.status_code == 201, created.text
        rule = created.json()
        assert rule["project"] == "shop"
        mine = httpx.get(url, headers=admin.bearer(), timeout=30).json()["items"]
        assert [item["id"] for item in mine] == [rule["id"]]
        assert httpx.get(url, headers=other.bearer(), timeout=30).json()["items"] == []
        theirs = f"{url}/{rule['id']}"
        assert httpx.get(theirs, headers=other.bearer(), timeout=30).status_code == 404
        assert httpx.delete(theirs, headers=other.bearer(), timeout=30).status_code == 404
        assert httpx.delete(theirs, headers=admin.bearer(), timeout=30).status_code == 204
        assert httpx.get(theirs, headers=admin.bearer(), timeout=30).status_code == 404
