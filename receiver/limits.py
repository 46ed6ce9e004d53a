"""Ingest limits, shared by both receivers and the command line."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
# Request bytes held at once by the exports being read, decoded and written. A request costs
# a few times its size while it is decoded, copied and written; a body whose size is not known
# before it is read (a gRPC message, a chunked or gzip HTTP body) holds the request limit
# until it is read.
DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024
# Exports (both protocols) being processed at once: each holds a database connection while
# it writes, so this stays below the pool size and queries keep connections.
DEFAULT_MAX_CONCURRENT_EXPORTS = 6
# How long an export waits for its turn before it is refused with a retry delay: well within
# a sender's timeout (the Collector's is 5 s per attempt, the SDK's 10 s per export).
DEFAULT_ADMISSION_WAIT_S = 2.0
# A body (or gRPC message) that has not arrived whole after this long is refused, so a sender
# that stalls cannot hold its share of the budget for ever.
DEFAULT_BODY_READ_TIMEOUT_S = 30.0
# One request is one transaction: this bounds how long it holds its locks and connection.
# The SDK's batch processor sends 512 spans a request; a Collector's batch processor 8192.
DEFAULT_MAX_SPANS_PER_REQUEST = 100_000


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES
    max_concurrent_exports: int = DEFAULT_MAX_CONCURRENT_EXPORTS
    admission_wait_s: float = DEFAULT_ADMISSION_WAIT_S
    body_read_timeout_s: float = DEFAULT_BODY_READ_TIMEOUT_S
    max_spans_per_request: int = DEFAULT_MAX_SPANS_PER_REQUEST
    retry_after_overloaded_s: int = 1
    retry_after_unavailable_s: int = 5
