"""OTLP/JSON: the JSON form of an export request, and :class:`OTLPJSONSpanExporter`, which
posts it over HTTP (the SDK ships no JSON exporter for traces)."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import logging
import math
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentguide.simulation.config import Compression

__all__ = [
    "RETRYABLE_HTTP_STATUSES",
    "OTLPJSONSpanExporter",
    "export_request_to_otlp_json",
    "parse_retry_after",
]

_logger = logging.getLogger(__name__)


def export_request_to_otlp_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """The OTLP/JSON form of an export request.

    Proto3 JSON mapping (camelCase keys, 64-bit integers as strings, bytes as base64) with
    the OTLP exceptions: enums as integers, trace and span ids as lowercase hex.
    """
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                _hex_ids(span, ("traceId", "spanId", "parentSpanId"))
                for link in span.get("links", ()):
                    _hex_ids(link, ("traceId", "spanId"))
    return document


def _hex_ids(message: dict[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        if key in message:
            message[key] = base64.b64decode(message[key]).hex()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP-date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(moment.timestamp() - current, 0.0)


RETRYABLE_HTTP_STATUSES = frozenset({429, 502, 503, 504})


class OTLPJSONSpanExporter(SpanExporter):
    """Exports spans as OTLP/JSON over HTTP, retrying 429/502/503/504 and network errors.

    A ``Retry-After`` header sets the wait before the next attempt; otherwise the wait
    doubles from 0.5 s with jitter. No attempt starts after ``max_retry_s``.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        compression: Compression = "none",
        max_retry_s: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        self._compression = compression
        self._timeout_s = timeout_s
        self._max_retry_s = max_retry_s
        self._session = session or requests.Session()
        self._shutdown = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown.is_set():
            return SpanExportResult.FAILURE
        document = export_request_to_otlp_json(encode_spans(spans))
        body = json.dumps(document, separators=(",", ":")).encode()
        if self._compression == "gzip":
            body = gzip.compress(body)
        deadline = time.monotonic() + self._max_retry_s
        for attempt in itertools.count():
            try:
                response = self._session.post(
                    self._endpoint, data=body, headers=self._headers, timeout=self._timeout_s
                )
            except requests.RequestException as error:
                reason, delay = str(error), None
            else:
                if 200 <= response.status_code < 300:
                    self._warn_partial_success(response)
                    return SpanExportResult.SUCCESS
                reason = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRYABLE_HTTP_STATUSES:
                    _logger.error("OTLP/JSON export to %s failed: %s", self._endpoint, reason)
                    return SpanExportResult.FAILURE
                delay = parse_retry_after(response.headers.get("Retry-After"))
            if delay is None:
                delay = min(0.5 * 2**attempt, 30.0) * random.uniform(0.8, 1.2)
            if time.monotonic() + delay > deadline or self._shutdown.wait(delay):
                break
            _logger.info("OTLP/JSON export retrying in %.1f s after %s", delay, reason)
        _logger.error("OTLP/JSON export to %s gave up: %s", self._endpoint, reason)
        return SpanExportResult.FAILURE

    def _warn_partial_success(self, response: requests.Response) -> None:
        if not response.content:
            return
        try:
            parsed = json_format.Parse(
                response.text, ExportTraceServiceResponse(), ignore_unknown_fields=True
            )
        except (json_format.ParseError, ValueError):
            return
        partial = parsed.partial_success
        if partial.rejected_spans or partial.error_message:
            _logger.warning(
                "OTLP/JSON endpoint rejected %d span(s): %s",
                partial.rejected_spans,
                partial.error_message,
            )

    def shutdown(self) -> None:
        self._shutdown.set()
        self._session.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
