"""Webhook delivery: a signed POST, retried with exponential backoff and jitter, every attempt
reported to a recorder (the delivery log).

**Signing** follows Standard Webhooks: headers ``webhook-id`` (the message id, the same on
every attempt: receivers drop a repeat), ``webhook-timestamp`` (Unix seconds when that attempt
was signed) and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256, keyed with the rule's
secret decoded from base64 after ``whsec_``, of ``<webhook-id>.<webhook-timestamp>.<body>``).
``Idempotency-Key`` repeats the message id for receivers that look for that header. How a
receiver verifies: ``agentguide/alerts/README.md``.

**Retries.** A 2xx response is delivered: no further attempt is ever made for that message.
Connection errors, timeouts, 408, 425, 429 and 5xx are retried; any other status (a 3xx
included: redirects are not followed) fails at once. The delay after attempt n is
``min(max_delay, first_delay * multiplier**(n-1))`` less a random part of up to ``jitter`` of
it, and at least the response's ``Retry-After`` (capped at ``max_delay``). After
``max_attempts`` the message fails. The defaults (2 s doubling up to 15 min, 12 attempts)
ride out a receiver that is down for about 24 to 47 minutes (2,822 s of
waiting before jitter).

``deliver`` runs the attempts in the calling thread, sleeping between them. A caller that must
survive restarts keeps the ``WebhookMessage`` and the attempts it was told about, and resumes
with ``deliver(..., first_attempt=n + 1)`` (or schedules single ``attempt`` calls itself using
``retry_in_seconds``): the message id stays the same, so the receiver still sees one message.
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

import httpx
from standardwebhooks.webhooks import Webhook

from agentguide.alerts.evaluation import Notification
from agentguide.alerts.payload import EVENT_TYPES, request_body
from agentguide.alerts.rules import AlertRule

USER_AGENT = "AgentGuide-Alerts/1"
RESPONSE_EXCERPT_BYTES = 512
_MESSAGE_NAMESPACE = uuid.UUID("5b0f7b8e-3a51-4c1e-9d2f-6a7c4e1b2d90")

AttemptOutcome = Literal["delivered", "retrying", "failed"]


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """One notification ready to send; keep it to resume delivery after a restart."""

    id: str  # webhook-id: derived from the notification's key, the same on every attempt
    notification_key: str
    rule_id: str
    event_type: str  # alert.firing or alert.resolved
    url: str
    secret: str
    body: bytes


def webhook_message(
    rule: AlertRule, notification: Notification, link: str | None = None
) -> WebhookMessage:
    """The message for ``notification``, in the rule's format, to the rule's URL."""
    return WebhookMessage(
        id="msg_" + uuid.uuid5(_MESSAGE_NAMESPACE, notification.key).hex,
        notification_key=notification.key,
        rule_id=rule.id,
        event_type=EVENT_TYPES[notification.event],
        url=rule.webhook_url,
        secret=rule.secret,
        body=request_body(rule, notification, link),
    )


def signed_headers(message: WebhookMessage, signed_at: datetime) -> dict[str, str]:
    """The headers of one attempt, signed at ``signed_at``."""
    signature = Webhook(message.secret).sign(message.id, signed_at, message.body.decode("utf-8"))
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": signature,
        "idempotency-key": message.id,
    }


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 12
    first_delay_seconds: float = 2.0
    multiplier: float = 2.0
    max_delay_seconds: float = 900.0
    jitter: float = 0.5  # up to this fraction of each delay is taken off at random
    timeout_seconds: float = 10.0  # per attempt: connect, write and read

    def delay_after(
        self, attempt: int, rng: random.Random, retry_after: float | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        exponent = min(attempt - 1, 64)  # large enough to reach any cap, small enough to compute
        base = min(self.max_delay_seconds, self.first_delay_seconds * self.multiplier**exponent)
        delay = base * (1 - self.jitter * rng.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay_seconds))
        return delay


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One POST and what came of it: a row of the delivery log."""

    message_id: str
    notification_key: str
    rule_id: str
    attempt: int  # 1-based
    started_at: datetime
    duration_ms: float
    outcome: AttemptOutcome
    status_code: int | None  # None when no response came
    error: str | None  # why it was not delivered
    retry_in_seconds: float | None  # set when outcome is "retrying"
    response_excerpt: str | None  # the first RESPONSE_EXCERPT_BYTES of the response body


class AttemptRecorder(Protocol):
    """Told about every attempt, in order, before the next one is made."""

    def __call__(self, attempt: DeliveryAttempt, /) -> None: ...


def _retryable_status(status: int) -> bool:
    return status in (408, 425, 429) or 500 <= status <= 599


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def attempt(
    message: WebhookMessage,
    number: int,
    *,
    client: httpx.Client,
    policy: RetryPolicy,
    rng: random.Random,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DeliveryAttempt:
    """Make attempt ``number`` (1-based) and classify it; no sleeping, no recording."""
    started_at = clock()
    started = time.perf_counter()
    status: int | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    error: str | None = None
    try:
        headers = signed_headers(message, started_at)
        with client.stream("POST", message.url, content=message.body, headers=headers) as reply:
            status = reply.status_code
            received = b""
            for chunk in reply.iter_bytes():
                received += chunk
                if len(received) >= RESPONSE_EXCERPT_BYTES:
                    break
            excerpt = received[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace") or None
            retry_after = _retry_after_seconds(reply.headers.get("retry-after"), started_at)
    except httpx.TransportError as exc:  # refused, reset, DNS, timeouts, protocol errors
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = (time.perf_counter() - started) * 1000

    outcome: AttemptOutcome
    if status is not None and 200 <= status <= 299:
        outcome = "delivered"
    elif status is not None and not _retryable_status(status):
        outcome, error = "failed", f"HTTP {status}: not retried"
    else:
        error = error or f"HTTP {status}"
        outcome = "retrying" if number < policy.max_attempts else "failed"
        if outcome == "failed":
            error += f"; gave up after {number} attempts"
    return DeliveryAttempt(
        message_id=message.id,
        notification_key=message.notification_key,
        rule_id=message.rule_id,
        attempt=number,
        started_at=started_at,
        duration_ms=duration_ms,
        outcome=outcome,
        status_code=status,
        error=error,
        retry_in_seconds=(
            policy.delay_after(number, rng, retry_after) if outcome == "retrying" else None
        ),
        response_excerpt=excerpt,
    )


def deliver(
    message: WebhookMessage,
    record: AttemptRecorder,
    *,
    policy: RetryPolicy | None = None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    first_attempt: int = 1,
) -> DeliveryAttempt:
    """Attempt until delivered or failed, recording each attempt; returns the last one."""
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    own_client = client is None
    http = client or httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False)
    try:
        number = first_attempt
        while True:
            result = attempt(message, number, client=http, policy=policy, rng=rng)
            record(result)
            if result.outcome != "retrying" or result.retry_in_seconds is None:
                return result
            sleep(result.retry_in_seconds)
            number += 1
    finally:
        if own_client:
            http.close()
