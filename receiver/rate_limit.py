"""Per-key rate limits on requests and spans per second: token buckets in this process.

Each key has a bucket per measure, refilled continuously at the configured rate and holding
at most one second's worth. A request whose cost exceeds what a full bucket holds (a batch of
more spans than the per-second rate) is let through when the bucket is full and leaves it in
debt, so a large batch is slowed down rather than refused forever. Limits apply to keys; with
auth off there is no key and no limit. Several server processes each keep their own buckets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from receiver.auth import Principal

MIN_RETRY_AFTER_S: Final = 0.05


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Sustained rates for one scope; 0 means unlimited."""

    requests_per_s: float = 0.0
    spans_per_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RateLimits:
    ingest: RateLimit = field(default_factory=RateLimit)
    read: RateLimit = field(default_factory=RateLimit)
    admin: RateLimit = field(default_factory=RateLimit)

    def for_scope(self, scope: str) -> RateLimit:
        limit: RateLimit = getattr(self, scope, RateLimit())
        return limit


class RateLimited(Exception):
    """Over the key's rate: retry after ``retry_after_s`` seconds."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, at least 1, as ``Retry-After`` wants them."""
        return str(max(1, math.ceil(self.retry_after_s)))


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved up; a take may leave it in debt."""

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._updated = clock()

    def take(self, cost: float) -> float:
        """Take ``cost`` tokens and return 0, or take none and return the seconds to wait."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        needed = min(cost, self.capacity)
        if self._tokens >= needed:
            self._tokens -= cost
            return 0.0
        return (needed - self._tokens) / self.rate


class RateLimiter:
    """The buckets of every key seen by this process."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: dict[tuple[int, str], TokenBucket] = {}

    def check_request(self, principal: Principal) -> None:
        """Count one request against the key; raise RateLimited when it is over its rate."""
        rate = self.limits.for_scope(principal.scope).requests_per_s
        self._take(principal, "requests", rate, 1)

    def check_spans(self, principal: Principal, spans: int) -> None:
        """Count ``spans`` against the key; raise RateLimited when it is over its rate."""
        rate = self.limits.for_scope(principal.scope).spans_per_s
        self._take(principal, "spans", rate, spans)

    def _take(self, principal: Principal, measure: str, rate: float, cost: int) -> None:
        if principal.key_id is None or rate <= 0 or cost <= 0:
            return
        bucket = self._buckets.get((principal.key_id, measure))
        if bucket is None or bucket.rate != rate:
            bucket = TokenBucket(rate, max(rate, 1.0), self._clock)
            self._buckets[(principal.key_id, measure)] = bucket
        wait_s = bucket.take(cost)
        if wait_s > 0:
            raise RateLimited(
                f"this key is over its rate of {rate:g} {measure}/s; retry later",
                max(wait_s, MIN_RETRY_AFTER_S),
            )
