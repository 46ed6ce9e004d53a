"""Alert rules, their evaluation, and webhook delivery. No storage here: rules and states are
plain values the caller keeps (see README.md beside this file)."""

from agentguide.alerts.delivery import (
    AttemptRecorder,
    DeliveryAttempt,
    RetryPolicy,
    WebhookMessage,
    attempt,
    deliver,
    signed_headers,
    webhook_message,
)
from agentguide.alerts.evaluation import AlertState, Notification, evaluate
from agentguide.alerts.payload import event_payload, request_body, slack_payload
from agentguide.alerts.rules import (
    METRICS,
    AlertRule,
    AlertRuleSpec,
    format_duration,
    new_secret,
    parse_duration,
)

__all__ = [
    "METRICS",
    "AlertRule",
    "AlertRuleSpec",
    "AlertState",
    "AttemptRecorder",
    "DeliveryAttempt",
    "Notification",
    "RetryPolicy",
    "WebhookMessage",
    "attempt",
    "deliver",
    "evaluate",
    "event_payload",
    "format_duration",
    "new_secret",
    "parse_duration",
    "request_body",
    "signed_headers",
    "slack_payload",
    "webhook_message",
]
