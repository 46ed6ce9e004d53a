"""The alert loops of the first derive worker: evaluate every rule, deliver the webhooks.

**Evaluation** (every ``AGENTGUIDE_ALERT_INTERVAL_S``, default 60 s): one transaction under an
advisory lock (one evaluator at a time, however many servers): each enabled rule's metric over
its window (from the rollups), its next state (``agentguide.alerts.evaluate``) saved, and on
firing or resolving a notification queued in ``alert_deliveries`` with the exact body to POST.
A transition queued twice (a crash between evaluating and committing cannot do that, but a
duplicate evaluation could) is one row: its key is unique.

**Delivery** (polled every second): due notifications are leased, POSTed once each
(``agentguide.alerts.attempt``: Standard Webhooks signature with the rule's secret), and the
attempt is logged; a retryable failure schedules the next attempt with the policy's backoff.
The schedule lives in the database, so a restart resumes it; a delivered notification is never
sent again, and every attempt of one carries the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
from pydantic import ValidationError

from agentguide.alerts import AlertRule, AlertState, RetryPolicy, attempt, evaluate
from agentguide.alerts.delivery import WebhookMessage, webhook_message
from agentguide.alerts.payload import EVENT_TYPES
from storage.alert_store import AlertStore, AttemptRecord, DueDelivery, NewDelivery
from storage.errors import StorageUnavailable, means_unreachable

logger = logging.getLogger("agentguide.alerts")

INTERVAL_ENV = "AGENTGUIDE_ALERT_INTERVAL_S"
PUBLIC_URL_ENV = "AGENTGUIDE_PUBLIC_URL"
DEFAULT_INTERVAL_S = 60.0
DELIVERY_POLL_S = 1.0
DELIVERY_BATCH = 16


def evaluation_interval_s() -> float:
    try:
        value = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value > 0 else DEFAULT_INTERVAL_S


def viewer_link(public_url: str | None, rule: AlertRule) -> str | None:
    """Where a person looks when the rule fires: the viewer, when its address is known."""
    if not public_url:
        return None
    base = public_url.rstrip("/")
    params = {key: value for key, value in (("agent", rule.agent), ("tool", rule.tool)) if value}
    if rule.metric == "signature_count" and rule.signature:
        return f"{base}/#/runs?" + urlencode({**params, "signature": rule.signature})
    if rule.metric == "failure_rate":
        return f"{base}/#/runs?" + urlencode({**params, "has_error": "true"})
    query = urlencode({"agent": rule.agent} if rule.agent else {})
    return f"{base}/#/dashboard" + (f"?{query}" if query else "")


class AlertEvaluator:
    def __init__(
        self,
        store: AlertStore,
        *,
        interval_s: float | None = None,
        public_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.on_queued = on_queued
        self.interval_s = interval_s or evaluation_interval_s()
        self.public_url = public_url if public_url is not None else os.environ.get(PUBLIC_URL_ENV)
        self.clock = clock

    async def run(self) -> None:
        while True:
            try:
                queued = await self.run_once()
                if queued:
                    logger.info("alerts: %d notification(s) queued", queued)
                    if self.on_queued is not None:
                        self.on_queued()
            except StorageUnavailable as exc:
                logger.warning("alert evaluation paused, the database is unavailable: %s", exc)
            except Exception as exc:
                if means_unreachable(exc):
                    logger.warning("alert evaluation paused, the database is unavailable: %s", exc)
                else:
                    logger.exception("an alert evaluation pass failed; tried again next interval")
            await asyncio.sleep(self.interval_s)

    async def run_once(self) -> int:
        """Evaluate every enabled rule once; how many notifications were queued."""
        queued = 0
        async with self.store.evaluation() as evaluation:
            if evaluation is None:
                return 0
            now = self.clock()
            now_ns = int(now.timestamp() * 1e9)
            for stored in await evaluation.rules():
                try:
                    rule = AlertRule(**stored.spec, id=stored.id, secret=stored.secret)
                    state = AlertState.from_json(stored.state) if stored.state else AlertState()
                except (ValidationError, ValueError, TypeError) as exc:
                    logger.error("alert rule %s cannot be read, skipped: %s", stored.id, exc)
                    continue
                if not rule.enabled:
                    continue
                value = await evaluation.metric(
                    stored.project_id,
                    rule.metric,
                    since_ns=now_ns - rule.window_seconds * 10**9,
                    until_ns=now_ns,
                    agent=rule.agent,
                    tool=rule.tool,
                    signature=rule.signature,
                )
                state, notification = evaluate(rule, state, value, now)
                delivery = None
                if notification is not None:
                    link = viewer_link(self.public_url, rule)
                    message = webhook_message(rule, notification, link)
                    delivery = NewDelivery(
                        message_id=message.id,
                        notification_key=message.notification_key,
                        rule_id=rule.id,
                        event=notification.event,
                        url=message.url,
                        body=message.body,
                    )
                    queued += 1
                await evaluation.save(rule.id, state.to_json(), now, delivery)
        return queued


class WebhookDeliverer:
    def __init__(
        self,
        store: AlertStore,
        *,
        policy: RetryPolicy | None = None,
        poll_s: float = DELIVERY_POLL_S,
        batch: int = DELIVERY_BATCH,
    ) -> None:
        self.store = store
        self.policy = policy or RetryPolicy()
        self.poll_s = poll_s
        self.batch = batch
        self._rng = random.Random()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        with httpx.Client(timeout=self.policy.timeout_seconds, follow_redirects=False) as client:
            while True:
                done = 0
                try:
                    done = await self.run_once(client)
                except StorageUnavailable as exc:
                    logger.warning("webhook delivery paused, the database is unavailable: %s", exc)
                except Exception:
                    logger.exception("a webhook delivery pass failed; tried again shortly")
                if not done:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                    self._wake.clear()

    async def run_once(self, client: httpx.Client) -> int:
        """One attempt for each due notification (at most ``batch``, concurrently)."""
        lease_s = 3 * self.policy.timeout_seconds + 30
        due = await self.store.claim_due(self.batch, lease_s)
        if not due:
            return 0
        records = await asyncio.gather(
            *(asyncio.to_thread(self._attempt, delivery, client) for delivery in due)
        )
        for record in records:
            await self.store.record(record)
            if record.outcome == "delivered":
                logger.info("webhook %s delivered (attempt %d)", record.message_id, record.attempt)
            elif record.outcome == "failed":
                logger.warning("webhook %s failed: %s", record.message_id, record.error)
        return len(due)

    def _attempt(self, delivery: DueDelivery, client: httpx.Client) -> AttemptRecord:
        message = WebhookMessage(
            id=delivery.message_id,
            notification_key=delivery.notification_key,
            rule_id=delivery.rule_id,
            event_type=EVENT_TYPES.get(delivery.event, f"alert.{delivery.event}"),
            url=delivery.url,
            secret=delivery.secret,
            body=delivery.body,
        )
        result = attempt(
            message, delivery.attempt, client=client, policy=self.policy, rng=self._rng
        )
        return AttemptRecord(
            message_id=result.message_id,
            attempt=result.attempt,
            started_at=result.started_at,
            duration_ms=result.duration_ms,
            outcome=result.outcome,
            status_code=result.status_code,
            error=result.error,
            retry_in_seconds=result.retry_in_seconds,
            response_excerpt=result.response_excerpt,
        )
