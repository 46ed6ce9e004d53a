"""Alert rules: what to watch, when it is bad, and where to say so.

A rule watches one metric over a sliding window (``window_seconds`` back from each evaluation),
optionally narrowed to one agent and/or one tool, and compares it with a threshold. The metrics
(computed by storage; their meaning is fixed here):

- ``failure_rate``: failed runs / finished runs, 0..1, no value when no run finished; with
  ``tool``: failed calls of that tool / its finished calls.
- ``run_count``: runs started; with ``tool``: calls of that tool.
- ``p95_duration_ms``: 95th percentile of finished runs' durations, no value when none; with
  ``tool``: of that tool's calls.
- ``tokens``, ``cost``: totals over the runs (no ``tool``: a run's tokens and cost are not
  kept per tool).
- ``signature_count``: failed runs whose failure signature id is ``signature`` (no ``tool``:
  the signature already names the failing step).

``agent`` narrows every metric to that agent's runs. Windows cover run start times (a tool
call counts with its run's start), widened to whole minutes. Counts and sums are 0 over an
empty window; "no value" leaves a rule's state as it is (see ``evaluation``).

Each rule has its own signing secret (Standard Webhooks form: ``whsec_`` + base64 of 32 random
bytes), generated when not given.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

Metric = Literal[
    "failure_rate", "run_count", "p95_duration_ms", "tokens", "cost", "signature_count"
]
Comparison = Literal[">", ">=", "<", "<="]
PayloadFormat = Literal["agentguide", "slack"]

METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 30 * 24 * 3600
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 16

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class AlertRuleSpec(BaseModel):
    """A rule as a person writes it (admin API body, CLI flags)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Label
    metric: Metric
    comparison: Comparison = ">"
    threshold: float = Field(allow_inf_nan=False)
    window_seconds: int = Field(ge=MIN_WINDOW_SECONDS, le=MAX_WINDOW_SECONDS)
    webhook_url: str = Field(max_length=2048)
    agent: Label | None = None
    tool: Label | None = None
    signature: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{16}$", description="a failure signature id"
    )
    format: PayloadFormat = "agentguide"
    fire_after: int = Field(
        default=1, ge=1, le=100, description="consecutive breaching evaluations before firing"
    )
    resolve_after: int = Field(
        default=1, ge=1, le=100, description="consecutive clear evaluations before resolving"
    )
    enabled: bool = True

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> AlertRuleSpec:
        if (self.metric == "signature_count") != (self.signature is not None):
            raise ValueError("signature is required for signature_count, and only for it")
        if self.metric == "signature_count" and self.tool is not None:
            raise ValueError("signature_count takes no tool: the signature names the failing step")
        if self.metric in ("tokens", "cost") and self.tool is not None:
            raise ValueError(f"{self.metric} takes no tool: it is not kept per tool")
        if self.metric == "failure_rate" and not 0 <= self.threshold <= 1:
            raise ValueError("a failure_rate threshold is a fraction between 0 and 1")
        if self.metric != "failure_rate" and self.threshold < 0:
            raise ValueError(f"a {self.metric} threshold cannot be negative")
        return self

    def breached(self, value: float) -> bool:
        """Whether ``value`` is on the bad side of the threshold."""
        if math.isnan(value):
            return False
        return {
            ">": value > self.threshold,
            ">=": value >= self.threshold,
            "<": value < self.threshold,
            "<=": value <= self.threshold,
        }[self.comparison]

    def describe(self) -> str:
        """``failure_rate > 0.2 over 15m (agent support-bot, tool search)``."""
        scope = [f"agent {self.agent}"] if self.agent else []
        scope += [f"tool {self.tool}"] if self.tool else []
        scope += [f"signature {self.signature}"] if self.signature else []
        window = format_duration(self.window_seconds)
        text = f"{self.metric} {self.comparison} {self.threshold:g} over {window}"
        return text + (f" ({', '.join(scope)})" if scope else "")


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class AlertRule(AlertRuleSpec):
    """A stored rule: its spec, an id and its signing secret."""

    id: str = Field(min_length=1, max_length=128)
    secret: str

    @field_validator("secret")
    @classmethod
    def _standard_webhooks_secret(cls, secret: str) -> str:
        if not secret.startswith(SECRET_PREFIX):
            raise ValueError(f"must start with {SECRET_PREFIX!r} followed by base64")
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError(f"must be {SECRET_PREFIX!r} followed by base64") from None
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"must hold at least {MIN_SECRET_BYTES} bytes")
        return secret

    @classmethod
    def create(
        cls, spec: AlertRuleSpec, *, rule_id: str | None = None, secret: str | None = None
    ) -> AlertRule:
        """A new rule from ``spec``, with a random id and secret unless given."""
        return cls(
            **spec.model_dump(),
            id=rule_id or str(uuid.uuid4()),
            secret=secret or new_secret(),
        )

    @classmethod
    def stored(cls, spec: dict[str, Any], rule_id: str, secret: str) -> AlertRule:
        """A rule as stored. One that no longer validates (written under older rules) is
        still shown as it is, so that it can be listed and deleted."""
        try:
            return cls(**spec, id=rule_id, secret=secret)
        except ValidationError:
            return cls.model_construct(**spec, id=rule_id, secret=secret)

    @property
    def spec(self) -> AlertRuleSpec:
        return AlertRuleSpec(**self.model_dump(exclude={"id", "secret"}))


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> int:
    """Seconds in ``"90"``, ``"90s"``, ``"15m"``, ``"1h"``, ``"7d"`` or ``"2w"``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 1h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The largest whole unit: 900 -> ``15m``, 3600 -> ``1h``, 90 -> ``90s``."""
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"
