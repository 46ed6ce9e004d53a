"""What an alert webhook says: the AgentGuide JSON event, or a Slack-compatible message.

The AgentGuide event follows the Standard Webhooks payload shape (``type``, ``timestamp``,
``data``); the fields are listed in ``agentguide/alerts/README.md``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from agentguide.alerts.evaluation import Notification
from agentguide.alerts.rules import AlertRule

EVENT_TYPES = {"firing": "alert.firing", "resolved": "alert.resolved"}


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary(rule: AlertRule, notification: Notification) -> str:
    """One line: ``[FIRING] checkout: value 0.42, rule failure_rate > 0.2 over 15m (...)``."""
    state = notification.event.upper()
    return f"[{state}] {rule.name}: value {notification.value:g}, rule {rule.describe()}"


def event_payload(
    rule: AlertRule, notification: Notification, link: str | None = None
) -> dict[str, Any]:
    """The AgentGuide JSON event; ``link`` points at the viewer, when one is known."""
    return {
        "type": EVENT_TYPES[notification.event],
        "timestamp": _instant(notification.evaluated_at),
        "data": {
            "key": notification.key,
            "status": notification.event,
            "episode": notification.episode,
            "value": notification.value,
            "fired_at": _instant(notification.fired_at),
            "resolved_at": _instant(notification.resolved_at),
            "summary": summary(rule, notification),
            "link": link,
            "rule": {
                "id": rule.id,
                "name": rule.name,
                "metric": rule.metric,
                "comparison": rule.comparison,
                "threshold": rule.threshold,
                "window_seconds": rule.window_seconds,
                "agent": rule.agent,
                "tool": rule.tool,
                "signature": rule.signature,
            },
        },
    }


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(
    rule: AlertRule, notification: Notification, link: str | None = None
) -> dict[str, Any]:
    """A message a Slack incoming webhook (or anything that reads ``text``) accepts."""
    icon = ":rotating_light:" if notification.event == "firing" else ":white_check_mark:"
    text = f"{icon} {_slack_escape(summary(rule, notification))}"
    if link:
        text += f" <{link}|Open in AgentGuide>"
    return {"text": text}


def request_body(rule: AlertRule, notification: Notification, link: str | None = None) -> bytes:
    """The exact bytes POSTed (and signed), in the rule's format."""
    build = slack_payload if rule.format == "slack" else event_payload
    return orjson.dumps(build(rule, notification, link))
