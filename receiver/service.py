"""The protocol-independent ingest service: who may send, admission control and rate limits,
then validate, map and commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from receiver.auth import Action, Authenticator, AuthMode, Principal
from receiver.ingest import prepare_request
from receiver.limits import IngestLimits
from receiver.metrics import ServerMetrics
from receiver.rate_limit import RateLimited, RateLimiter, RateLimits
from storage.errors import StorageUnavailable
from storage.store import Store

logger = logging.getLogger(__name__)


class TooManySpans(Exception):
    """The request has more spans than one request may carry: the sender must split it."""


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(
        len(scope_spans.spans)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
    )


class Overloaded(Exception):
    """More request bytes are in flight than the limit allows: the sender should retry."""


class AdmissionControl:
    """Bounds the request bytes held in memory at once, so excess load is refused, not buffered.

    A request is always admitted when nothing else is in flight, so one request of the
    maximum size can always get through.
    """

    def __init__(self, max_inflight_bytes: int) -> None:
        self.max_inflight_bytes = max_inflight_bytes
        self.inflight_bytes = 0
        self.inflight_requests = 0

    def admit(self, size: int) -> None:
        if self.inflight_requests and self.inflight_bytes + size > self.max_inflight_bytes:
            raise Overloaded(
                f"server is busy: {self.inflight_bytes} request bytes in flight "
                f"(limit {self.max_inflight_bytes}); retry later"
            )
        self.inflight_bytes += size
        self.inflight_requests += 1

    def grow(self, size: int) -> None:
        """Account for more bytes of an admitted request (a body that grew on decompression)."""
        if self.inflight_requests > 1 and self.inflight_bytes + size > self.max_inflight_bytes:
            raise Overloaded(
                f"server is busy: {self.inflight_bytes} request bytes in flight "
                f"(limit {self.max_inflight_bytes}); retry later"
            )
        self.inflight_bytes += size

    def release(self, size: int) -> None:
        self.inflight_bytes -= size
        self.inflight_requests -= 1


class IngestService:
    """What both receivers call once they have a decoded request."""

    def __init__(
        self,
        store: Store,
        limits: IngestLimits,
        *,
        authenticator: Authenticator | None = None,
        rate_limiter: RateLimiter | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.store = store
        self.limits = limits
        self.admission = AdmissionControl(limits.max_inflight_bytes)
        self.authenticator = authenticator or Authenticator(AuthMode.OFF, None)
        self.rate_limiter = rate_limiter or RateLimiter(RateLimits())
        self.metrics = metrics or ServerMetrics()

    async def admit_sender(
        self, authorization: str | None, api_key: str | None, project: str | None
    ) -> Principal:
        """The principal of an export request, before its body is read.

        Raises receiver.auth.AuthError, RateLimited (over the key's requests per second) or
        StorageUnavailable (keys cannot be looked up).
        """
        principal = await self.authenticator.authenticate(authorization, api_key)
        self.authenticator.authorize(principal, Action.INGEST, project)
        self.rate_limiter.check_request(principal)
        return principal

    async def export_as(
        self,
        principal: Principal,
        request: ExportTraceServiceRequest,
        protocol: str,
        earlier_errors: Sequence[str] = (),
    ) -> ExportTraceServiceResponse:
        """Check the spans of a decoded request against the limits, then ``export`` them into
        the principal's project; counted in the metrics under ``protocol``.

        Raises TooManySpans, RateLimited or StorageUnavailable; nothing is stored then.
        """
        received = count_spans(request) + len(earlier_errors)
        if received > self.limits.max_spans_per_request:
            self.metrics.spans_refused(protocol, "too_many_spans", received)
            raise TooManySpans(
                f"the request has {received} spans; at most {self.limits.max_spans_per_request} "
                "are accepted in one request: send smaller batches"
            )
        try:
            self.rate_limiter.check_spans(principal, received)
        except RateLimited:
            self.metrics.spans_refused(protocol, "rate_limited", received)
            raise
        try:
            response = await self.export(request, principal.project_id, earlier_errors)
        except StorageUnavailable:
            self.metrics.spans_refused(protocol, "unavailable", received)
            raise
        rejected = response.partial_success.rejected_spans
        self.metrics.spans(
            protocol, received=received, accepted=received - rejected, rejected=rejected
        )
        return response

    async def export(
        self,
        request: ExportTraceServiceRequest,
        project_id: int,
        earlier_errors: Sequence[str] = (),
    ) -> ExportTraceServiceResponse:
        """Store the valid spans of ``request``; answer once they are committed.

        Raises storage.StorageUnavailable when the database cannot take them now.
        """
        prepared = prepare_request(request, earlier_errors)
        await self.store.write_spans(project_id, prepared.batch)
        if prepared.rejected_spans:
            logger.info(
                "export: %d spans stored, %d rejected",
                len(prepared.batch),
                prepared.rejected_spans,
            )
        return prepared.response()
