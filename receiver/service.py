"""The protocol-independent ingest service: who may send, admission control and rate limits,
then validate and commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from receiver.admission import AdmissionControl, Overloaded
from receiver.auth import Action, Authenticator, AuthMode, Principal
from receiver.decoding import Decoder
from receiver.ingest import PreparedRequest
from receiver.limits import IngestLimits
from receiver.metrics import ServerMetrics
from receiver.rate_limit import RateLimited, RateLimiter, RateLimits
from storage.errors import RejectedData, StorageUnavailable
from storage.records import SpanBatch
from storage.store import Store

__all__ = ["IngestService", "Overloaded", "TooManySpans", "count_spans"]

logger = logging.getLogger(__name__)


class TooManySpans(Exception):
    """The request has more spans than one request may carry: the sender must split it."""


def count_spans(request: ExportTraceServiceRequest | Any) -> int:
    return sum(
        len(scope_spans.spans)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
    )


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
        decoder: Decoder | None = None,
    ) -> None:
        self.store = store
        self.limits = limits
        self.admission = AdmissionControl(
            max_inflight_bytes=limits.max_inflight_bytes,
            max_concurrent_exports=limits.max_concurrent_exports,
            max_wait_s=limits.admission_wait_s,
            retry_after_s=limits.retry_after_overloaded_s,
        )
        self.decoder = decoder or Decoder()
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
        request: ExportTraceServiceRequest | Any,
        protocol: str,
        earlier_errors: Sequence[str] = (),
    ) -> ExportTraceServiceResponse:
        """Check the spans of a decoded request (strict or lenient, see ``mapping.wire``)
        against the limits, then ``export`` them into the principal's project; counted in the
        metrics under ``protocol``.

        Raises TooManySpans, RateLimited, StorageUnavailable or RejectedData; nothing is
        stored then.
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
        except RejectedData:
            self.metrics.spans_refused(protocol, "invalid", received)
            raise
        rejected = response.partial_success.rejected_spans
        self.metrics.spans(
            protocol, received=received, accepted=received - rejected, rejected=rejected
        )
        return response

    async def export(
        self,
        request: ExportTraceServiceRequest | Any,
        project_id: int,
        earlier_errors: Sequence[str] = (),
    ) -> ExportTraceServiceResponse:
        """Store the valid spans of ``request``; answer once they are committed.

        When the database refuses the data of the batch (not the connection), the batch is
        split until the refused spans are found: they are rejected in ``partial_success`` and
        the rest is stored. Raises storage.StorageUnavailable when the database cannot take
        the spans now, and storage.RejectedData when it refuses every one of them.
        """
        prepared = await self.decoder.prepare(request, earlier_errors)
        try:
            await self.store.write_spans(project_id, prepared.batch)
        except RejectedData as refused:
            await self._write_what_is_accepted(project_id, prepared, refused)
        if prepared.rejected_spans:
            logger.info(
                "export: %d spans stored, %d rejected",
                len(prepared.batch),
                prepared.rejected_spans,
            )
        return prepared.response()

    async def _write_what_is_accepted(
        self, project_id: int, prepared: PreparedRequest, refused: RejectedData
    ) -> None:
        """Bisect a refused batch: store the halves the database takes, reject the spans it
        refuses on their own. Raises RejectedData when it refuses them all."""
        batch = prepared.batch
        refused_spans: list[tuple[int, RejectedData]] = []
        pending: list[tuple[list[int], RejectedData]] = [(list(range(len(batch))), refused)]
        while pending:
            indices, error = pending.pop()
            if len(indices) == 1:
                refused_spans.append((indices[0], error))
                continue
            middle = len(indices) // 2
            for half in (indices[:middle], indices[middle:]):
                try:
                    await self.store.write_spans(project_id, sub_batch(batch, half))
                except RejectedData as half_error:
                    pending.append((half, half_error))
        if len(refused_spans) == len(batch):
            raise refused
        for index, error in sorted(refused_spans, key=lambda item: item[0]):
            prepared.rejected_spans += 1
            field = f" ({error.field})" if error.field else ""
            name = batch.names[index][:64]
            prepared.errors.append(f"span {name!r}: the database refused it{field}: {error}")
        refused_indices = {index for index, _ in refused_spans}
        prepared.batch = sub_batch(
            batch, [index for index in range(len(batch)) if index not in refused_indices]
        )


def sub_batch(batch: SpanBatch, indices: Sequence[int]) -> SpanBatch:
    """The spans of ``batch`` at ``indices``, with the resources and scopes they use."""
    part = SpanBatch()
    for index in indices:
        part.trace_ids.append(batch.trace_ids[index])
        part.span_ids.append(batch.span_ids[index])
        part.parent_span_ids.append(batch.parent_span_ids[index])
        part.names.append(batch.names[index])
        part.start_ns.append(batch.start_ns[index])
        part.end_ns.append(batch.end_ns[index])
        part.resource_hashes.append(batch.resource_hashes[index])
        part.scope_hashes.append(batch.scope_hashes[index])
        part.spans.append(batch.spans[index])
        resource_hash, scope_hash = batch.resource_hashes[index], batch.scope_hashes[index]
        part.resources.setdefault(resource_hash, batch.resources[resource_hash])
        part.scopes.setdefault(scope_hash, batch.scopes[scope_hash])
    return part
