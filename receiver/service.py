"""The protocol-independent ingest service: admission control, then validate, map and commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from receiver.ingest import prepare_request
from receiver.limits import IngestLimits
from storage.store import Store

logger = logging.getLogger(__name__)


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

    def __init__(self, store: Store, limits: IngestLimits) -> None:
        self.store = store
        self.limits = limits
        self.admission = AdmissionControl(limits.max_inflight_bytes)

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
