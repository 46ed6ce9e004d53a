"""Ingest limits, shared by both receivers and the command line."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
# A request costs about five times its size while it is decoded, copied and written.
DEFAULT_MAX_INFLIGHT_BYTES = 48 * 1024 * 1024
# gRPC reads each message whole before the handler runs, so memory there is bounded by
# this many concurrent exports times the request limit; more get RESOURCE_EXHAUSTED.
DEFAULT_MAX_CONCURRENT_GRPC_EXPORTS = 4
# One request is one transaction: this bounds how long it holds its locks and connection.
# The SDK's batch processor sends 512 spans a request; a Collector's batch processor 8192.
DEFAULT_MAX_SPANS_PER_REQUEST = 100_000


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES
    max_concurrent_grpc_exports: int = DEFAULT_MAX_CONCURRENT_GRPC_EXPORTS
    max_spans_per_request: int = DEFAULT_MAX_SPANS_PER_REQUEST
    retry_after_overloaded_s: int = 1
    retry_after_unavailable_s: int = 5
