"""A sender that retries exactly as the OpenTelemetry Collector's ``otlp`` and ``otlphttp``
exporters do, so tests can show what a Collector in front of AgentGuide would lose.

The rules, from the OTLP specification and the Collector's exporters:

- gRPC: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are
  retried; RESOURCE_EXHAUSTED only when the status details (``grpc-status-details-bin``)
  carry a ``google.rpc.RetryInfo``; every other code drops the batch.
- HTTP: 429, 502, 503 and 504 are retried, and so are connection errors; every other status
  drops the batch. ``Retry-After`` (seconds) on a 429 or 503 is honoured.
- The delay before a retry is the exporter helper's exponential backoff (initial interval,
  multiplier 1.5, randomisation 0.5, capped at the maximum interval), or the server's delay
  when it is longer; a batch is dropped once retrying would pass the maximum elapsed time.
- ``otlphttp`` sends protobuf bodies with gzip by default; each attempt has a timeout.
"""

from __future__ import annotations

import gzip
import random
import time
from dataclasses import dataclass, field

import grpc
import httpx
from google.rpc import error_details_pb2, status_pb2

from receiver.grpc_server import SERVICE_NAME

RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
THROTTLING_HTTP = frozenset({429, 503})


@dataclass(frozen=True)
class RetrySettings:
    """The Collector's ``retry_on_failure`` and ``timeout`` (defaults 5 s, 30 s, 300 s, 5 s:
    the tests use shorter ones, as a Collector may be configured)."""

    initial_interval_s: float = 0.2
    max_interval_s: float = 2.0
    max_elapsed_s: float = 120.0
    multiplier: float = 1.5
    randomization: float = 0.5
    timeout_s: float = 30.0


@dataclass
class SendLog:
    """What one sender saw: every refusal, and the batches it dropped."""

    refusals: list[str] = field(default_factory=list)
    non_retryable: list[str] = field(default_factory=list)
    dropped_batches: int = 0
    sent_batches: int = 0


class _Backoff:
    def __init__(self, settings: RetrySettings) -> None:
        self.settings = settings
        self.interval = settings.initial_interval_s
        self.started = time.monotonic()

    def next_delay(self, throttle_s: float | None) -> float | None:
        """The delay before the next attempt, or None when the batch must be dropped."""
        s = self.settings
        delta = s.randomization * self.interval
        delay = random.uniform(self.interval - delta, self.interval + delta)
        self.interval = min(self.interval * s.multiplier, s.max_interval_s)
        if throttle_s is not None:
            delay = max(delay, throttle_s)
        if time.monotonic() - self.started + delay > s.max_elapsed_s:
            return None
        return delay


def grpc_retry_delay(error: grpc.RpcError) -> float | None:
    """The RetryInfo delay in the status details, as the Collector reads it; None without."""
    for key, value in error.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


class CollectorLikeGrpcSender:
    """The ``otlp`` exporter: one channel, unary Export calls, the Collector's retry rules."""

    def __init__(self, endpoint: str, settings: RetrySettings | None = None) -> None:
        self.settings = settings or RetrySettings()
        self.channel = grpc.insecure_channel(
            endpoint, options=[("grpc.max_send_message_length", -1)]
        )
        self.export = self.channel.unary_unary(f"/{SERVICE_NAME}/Export")
        self.log = SendLog()

    def send(self, payload: bytes) -> bool:
        """Send one serialized ExportTraceServiceRequest until it is accepted or dropped."""
        backoff = _Backoff(self.settings)
        while True:
            try:
                self.export(payload, timeout=self.settings.timeout_s)
                self.log.sent_batches += 1
                return True
            except grpc.RpcError as error:
                code = error.code()  # type: ignore[attr-defined]
                retry_info = grpc_retry_delay(error)
                described = f"{code.name}: {error.details()}"  # type: ignore[attr-defined]
                self.log.refusals.append(described)
                retryable = code in RETRYABLE_GRPC or (
                    code == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_info is not None
                )
                if not retryable:
                    self.log.non_retryable.append(described)
                    self.log.dropped_batches += 1
                    return False
                delay = backoff.next_delay(retry_info)
                if delay is None:
                    self.log.dropped_batches += 1
                    return False
                time.sleep(delay)

    def close(self) -> None:
        self.channel.close()


class CollectorLikeHttpSender:
    """The ``otlphttp`` exporter: protobuf, gzip, the Collector's retry rules."""

    def __init__(self, base_url: str, settings: RetrySettings | None = None) -> None:
        self.settings = settings or RetrySettings()
        self.client = httpx.Client(base_url=base_url, timeout=self.settings.timeout_s)
        self.log = SendLog()

    def send(self, payload: bytes) -> bool:
        body = gzip.compress(payload, compresslevel=1)
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        backoff = _Backoff(self.settings)
        while True:
            throttle: float | None = None
            try:
                response = self.client.post("/v1/traces", content=body, headers=headers)
            except httpx.TransportError as exc:
                self.log.refusals.append(f"connection: {exc}")
            else:
                if response.status_code == 200:
                    self.log.sent_batches += 1
                    return True
                described = f"{response.status_code}: {response.content[:200]!r}"
                self.log.refusals.append(described)
                if response.status_code not in RETRYABLE_HTTP:
                    self.log.non_retryable.append(described)
                    self.log.dropped_batches += 1
                    return False
                retry_after = response.headers.get("retry-after", "")
                if response.status_code in THROTTLING_HTTP and retry_after.isdigit():
                    throttle = float(retry_after)
            delay = backoff.next_delay(throttle)
            if delay is None:
                self.log.dropped_batches += 1
                return False
            time.sleep(delay)

    def close(self) -> None:
        self.client.close()
