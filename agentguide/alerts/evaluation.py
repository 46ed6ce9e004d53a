"""The state of one rule, moved on by each new value of its metric. Pure: no clock, no I/O.

States: ``ok`` (never fired), ``firing``, ``resolved`` (fired, and back on the good side;
behaves as ``ok`` from then on). A value on the bad side of the threshold is a *breach*.

- ``ok``/``resolved`` + ``fire_after`` consecutive breaches -> ``firing``: a ``firing``
  notification, and ``episode`` counts up.
- ``firing`` + breach -> ``firing``, no notification (never repeated while firing).
- ``firing`` + ``resolve_after`` consecutive clear values -> ``resolved``: a ``resolved``
  notification for the same episode.
- No value (a rate or percentile over an empty window) changes nothing but
  ``last_evaluated_at``: a missing value neither fires, resolves, nor breaks a streak.

A notification's ``key`` is ``<rule id>/<episode>/<event>``: evaluating the same transition
twice (a crash between evaluating and saving the state) gives the same key, so a unique key
in the delivery log makes each notification one delivery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from agentguide.alerts.rules import AlertRule

AlertStatus = Literal["ok", "firing", "resolved"]
NotificationEvent = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class AlertState:
    """What is kept per rule between evaluations (``to_json``/``from_json`` for storage)."""

    status: AlertStatus = "ok"
    breaches: int = 0  # consecutive breaching values while not firing
    clears: int = 0  # consecutive clear values while firing
    episode: int = 0  # how many times the rule has fired
    since: datetime | None = None  # when the status last changed
    fired_at: datetime | None = None  # when the current or last episode fired
    resolved_at: datetime | None = None  # when the last episode resolved
    last_value: float | None = None
    last_evaluated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertState:
        def moment(key: str) -> datetime | None:
            value = data.get(key)
            return datetime.fromisoformat(value) if value else None

        status = data.get("status", "ok")
        if status not in ("ok", "firing", "resolved"):
            raise ValueError(f"unknown alert status {status!r}")
        value = data.get("last_value")
        return cls(
            status=status,
            breaches=int(data.get("breaches", 0)),
            clears=int(data.get("clears", 0)),
            episode=int(data.get("episode", 0)),
            since=moment("since"),
            fired_at=moment("fired_at"),
            resolved_at=moment("resolved_at"),
            last_value=float(value) if value is not None else None,
            last_evaluated_at=moment("last_evaluated_at"),
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """A transition worth telling the rule's webhook about."""

    rule_id: str
    event: NotificationEvent
    episode: int
    value: float
    evaluated_at: datetime
    fired_at: datetime
    resolved_at: datetime | None

    @property
    def key(self) -> str:
        """Stable per transition: the delivery's idempotency key."""
        return f"{self.rule_id}/{self.episode}/{self.event}"


def evaluate(
    rule: AlertRule,
    state: AlertState,
    value: float | None,
    at: datetime,
) -> tuple[AlertState, Notification | None]:
    """The next state of a rule given its metric's value at ``at``, and the notification the
    move calls for (None when none does). See the module doc for the transitions."""
    if value is None:
        return replace(state, last_evaluated_at=at), None
    state = replace(state, last_value=value, last_evaluated_at=at)
    if rule.breached(value):
        if state.status == "firing":
            return replace(state, clears=0), None
        breaches = state.breaches + 1
        if breaches < rule.fire_after:
            return replace(state, breaches=breaches), None
        episode = state.episode + 1
        fired = replace(
            state, status="firing", breaches=0, clears=0, episode=episode, since=at, fired_at=at
        )
        return fired, Notification(rule.id, "firing", episode, value, at, at, None)
    if state.status != "firing":
        return replace(state, breaches=0), None
    clears = state.clears + 1
    if clears < rule.resolve_after:
        return replace(state, clears=clears), None
    resolved = replace(state, status="resolved", clears=0, since=at, resolved_at=at)
    fired_at = state.fired_at or at
    return resolved, Notification(rule.id, "resolved", state.episode, value, at, fired_at, at)
