"""Webhook delivery against a real HTTP receiver on 127.0.0.1: signed, retried, delivered once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from agentguide.alerts import (
    AlertRule,
    AlertRuleSpec,
    AlertState,
    DeliveryAttempt,
    RetryPolicy,
    deliver,
    evaluate,
    webhook_message,
)
from tests.triage.webhook_receiver import Receiver, Script, unused_port

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = RetryPolicy(first_delay_seconds=0.01, max_delay_seconds=0.05, timeout_seconds=5)


def firing_rule(url: str, **fields) -> tuple[AlertRule, object]:
    spec = AlertRuleSpec(
        name="checkout failures",
        metric="failure_rate",
        threshold=0.2,
        window_seconds=900,
        webhook_url=url,
        agent="support-bot",
        **fields,
    )
    rule = AlertRule.create(spec, rule_id="rule-7")
    _, notification = evaluate(rule, AlertState(), 0.42, T0)
    assert notification is not None
    return rule, notification


class Log:
    """The delivery log a caller keeps: every attempt, in order."""

    def __init__(self, on_attempt=None) -> None:
        self.attempts: list[DeliveryAttempt] = []
        self.on_attempt = on_attempt

    def __call__(self, attempt: DeliveryAttempt) -> None:
        self.attempts.append(attempt)
        if self.on_attempt:
            self.on_attempt(attempt)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_the_receiver_verifies_the_signature_and_reads_the_documented_payload(receiver):
    rule, notification = firing_rule(receiver.url)
    log = Log()
    last = deliver(webhook_message(rule, notification, link="http://viewer/runs"), log, policy=FAST)
    assert last.outcome == "delivered" and last.status_code == 200
    assert last.response_excerpt == '{"ok": true}'
    (request,) = receiver.received

    # The reference Standard Webhooks library accepts it with the rule's secret...
    payload = Webhook(rule.secret).verify(request.body, request.headers)
    # ...and so does the documented recipe, done by hand.
    key = base64.b64decode(rule.secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
    digest = hmac.new(key, signed + request.body, hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 300
    assert request.headers["idempotency-key"] == request.headers["webhook-id"]
    assert request.headers["content-type"] == "application/json"

    assert payload == {
        "type": "alert.firing",
        "timestamp": "2026-03-01T12:00:00.000Z",
        "data": {
            "key": "rule-7/1/firing",
            "status": "firing",
            "episode": 1,
            "value": 0.42,
            "fired_at": "2026-03-01T12:00:00.000Z",
            "resolved_at": None,
            "summary": "[FIRING] checkout failures: value 0.42, rule failure_rate > 0.2 over 15m "
            "(agent support-bot)",
            "link": "http://viewer/runs",
            "rule": {
                "id": "rule-7",
                "name": "checkout failures",
                "metric": "failure_rate",
                "comparison": ">",
                "threshold": 0.2,
                "window_seconds": 900,
                "agent": "support-bot",
                "tool": None,
                "signature": None,
            },
        },
    }
    assert [a.outcome for a in log.attempts] == ["delivered"]


def test_a_tampered_body_a_wrong_secret_or_an_old_timestamp_do_not_verify(receiver):
    rule, notification = firing_rule(receiver.url)
    deliver(webhook_message(rule, notification), Log(), policy=FAST)
    (request,) = receiver.received
    with pytest.raises(WebhookVerificationError):
        Webhook(rule.secret).verify(request.body.replace(b"0.42", b"0.01"), request.headers)
    other = AlertRule.create(rule.spec)
    with pytest.raises(WebhookVerificationError):
        Webhook(other.secret).verify(request.body, request.headers)
    old = dict(request.headers, **{"webhook-timestamp": str(int(time.time()) - 3600)})
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(rule.secret).verify(request.body, old)


def test_a_receiver_that_is_down_then_failing_then_up_gets_the_message_once():
    port = unused_port()
    started: list[Receiver] = []

    def bring_up_after_two_refusals(attempt: DeliveryAttempt) -> None:
        if attempt.attempt == 2:  # the receiver comes up, answering 503 twice, then 200
            started.append(Receiver(Script(statuses=[503, 503, 200]), port=port))

    rule, notification = firing_rule(f"http://127.0.0.1:{port}/hooks")
    log = Log(bring_up_after_two_refusals)
    try:
        last = deliver(webhook_message(rule, notification), log, policy=FAST)
    finally:
        for server in started:
            server.close()

    assert [a.outcome for a in log.attempts] == [
        "retrying", "retrying", "retrying", "retrying", "delivered",
    ]  # fmt: skip
    assert [a.status_code for a in log.attempts] == [None, None, 503, 503, 200]
    assert "ConnectError" in (log.attempts[0].error or "")
    assert log.attempts[2].error == "HTTP 503"
    assert [a.attempt for a in log.attempts] == [1, 2, 3, 4, 5]
    assert all(a.retry_in_seconds is not None for a in log.attempts[:4])
    assert last == log.attempts[-1] and last.retry_in_seconds is None

    (receiver,) = started
    ids = {request.headers["webhook-id"] for request in receiver.received}
    assert len(receiver.received) == 3 and len(ids) == 1  # one message, seen three times
    for request in receiver.received:  # every attempt is signed afresh, and verifies
        Webhook(rule.secret).verify(request.body, request.headers)
    assert len({request.body for request in receiver.received}) == 1


def test_a_receiver_too_slow_to_answer_sees_the_same_message_id_again():
    # The first request times out on our side after the receiver may have acted on it: the
    # retry carries the same webhook-id, so the receiver can drop it.
    receiver = Receiver(Script(statuses=[200], stall_first=1.5))
    try:
        rule, notification = firing_rule(receiver.url)
        log = Log()
        policy = RetryPolicy(first_delay_seconds=0.01, max_delay_seconds=0.05, timeout_seconds=0.5)
        last = deliver(webhook_message(rule, notification), log, policy=policy)
        first, second = receiver.received
    finally:
        receiver.close()
    assert [a.outcome for a in log.attempts] == ["retrying", "delivered"]
    assert "Timeout" in (log.attempts[0].error or "")
    assert last.outcome == "delivered"
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_delivery_can_resume_after_a_restart_with_the_same_message_id(receiver):
    rule, notification = firing_rule(receiver.url)
    first = webhook_message(rule, notification)
    again = webhook_message(rule, notification)  # rebuilt from the same notification
    assert first == again
    last = deliver(again, Log(), policy=FAST, first_attempt=4)
    assert (last.attempt, last.outcome) == (4, "delivered")
    assert receiver.received[0].headers["webhook-id"] == first.id


def test_a_client_error_is_not_retried():
    receiver = Receiver(Script(statuses=[410], body=b"gone"))
    try:
        rule, notification = firing_rule(receiver.url)
        log = Log()
        last = deliver(webhook_message(rule, notification), log, policy=FAST)
    finally:
        receiver.close()
    assert [(a.outcome, a.status_code) for a in log.attempts] == [("failed", 410)]
    assert last.error == "HTTP 410: not retried" and last.response_excerpt == "gone"


def test_a_redirect_is_not_followed():
    receiver = Receiver(Script(statuses=[307], headers={"location": "http://127.0.0.1:9/x"}))
    try:
        rule, notification = firing_rule(receiver.url)
        last = deliver(webhook_message(rule, notification), Log(), policy=FAST)
    finally:
        receiver.close()
    assert (last.outcome, last.status_code, len(receiver.received)) == ("failed", 307, 1)


def test_delivery_gives_up_after_the_last_attempt():
    receiver = Receiver(Script(statuses=[500]))
    try:
        rule, notification = firing_rule(receiver.url)
        log = Log()
        policy = RetryPolicy(max_attempts=3, first_delay_seconds=0.01, max_delay_seconds=0.02)
        last = deliver(webhook_message(rule, notification), log, policy=policy)
    finally:
        receiver.close()
    assert [a.outcome for a in log.attempts] == ["retrying", "retrying", "failed"]
    assert last.error == "HTTP 500; gave up after 3 attempts"
    assert len(receiver.received) == 3


def test_retry_after_raises_the_delay_up_to_the_cap():
    receiver = Receiver(Script(statuses=[429, 200], headers={"retry-after": "3600"}))
    try:
        rule, notification = firing_rule(receiver.url)
        log = Log()
        deliver(webhook_message(rule, notification), log, policy=FAST)
    finally:
        receiver.close()
    assert log.attempts[0].status_code == 429
    assert log.attempts[0].retry_in_seconds == FAST.max_delay_seconds
    assert log.attempts[1].outcome == "delivered"


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(first_delay_seconds=2, multiplier=2, max_delay_seconds=60, jitter=0.5)
    rng = random.Random(3)
    for attempt, base in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60), (10_000, 60)]:
        delays = {policy.delay_after(attempt, rng) for _ in range(50)}
        assert all(base * 0.5 <= delay <= base for delay in delays)
        assert len(delays) > 1  # jittered
    assert policy.delay_after(1, rng, retry_after=30) == 30
    assert policy.delay_after(1, rng, retry_after=600) == 60


def test_the_slack_format_posts_text_and_is_signed_too(receiver):
    rule, notification = firing_rule(receiver.url, format="slack")
    deliver(webhook_message(rule, notification, link="http://viewer/a?b=1&c=2"), Log(), policy=FAST)
    (request,) = receiver.received
    payload = Webhook(rule.secret).verify(request.body, request.headers)
    assert payload == {
        "text": ":rotating_light: [FIRING] checkout failures: value 0.42, rule failure_rate &gt; "
        "0.2 over 15m (agent support-bot) <http://viewer/a?b=1&c=2|Open in AgentGuide>"
    }


def test_resolved_notifications_carry_both_times(receiver):
    rule, firing = firing_rule(receiver.url)
    state, _ = evaluate(rule, AlertState(), 0.42, T0)
    _, resolved = evaluate(rule, state, 0.05, T0 + timedelta(minutes=30))
    assert resolved is not None
    deliver(webhook_message(rule, resolved), Log(), policy=FAST)
    data = json.loads(receiver.received[0].body)["data"]
    assert (data["status"], data["fired_at"], data["resolved_at"]) == (
        "resolved", "2026-03-01T12:00:00.000Z", "2026-03-01T12:30:00.000Z",
    )  # fmt: skip
    assert webhook_message(rule, resolved).id != webhook_message(rule, firing).id


def test_concurrent_deliveries_do_not_mix_up(receiver):
    rules = [firing_rule(receiver.url) for _ in range(8)]  # eight secrets
    logs = [Log() for _ in rules]
    threads = [
        threading.Thread(target=deliver, args=(webhook_message(r, n), log), kwargs={"policy": FAST})
        for (r, n), log in zip(rules, logs, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(log.attempts[-1].outcome == "delivered" for log in logs)
    verified = 0
    for request in receiver.received:
        for r, _ in rules:
            try:
                Webhook(r.secret).verify(request.body, request.headers)
                verified += 1
            except WebhookVerificationError:
                pass
    assert verified == len(rules) == len(receiver.received)
