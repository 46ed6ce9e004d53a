"""The ingest of OTLP log records: the same guarantees as spans, over the same service.

A logs export goes through the trace path's gates (``receiver.service.IngestService``: who may
send, admission, the key's rate, which counts a log record as a span) and is answered once its
records are committed. When the database refuses the data of a batch (not the connection),
the batch is split until the refused records are found: they are rejected in
``partial_success`` and the rest is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from receiver.auth import Principal
from receiver.log_ingest import PreparedLogs, count_log_records
from receiver.rate_limit import RateLimited
from receiver.service import IngestService, TooManySpans
from storage.errors import RejectedData, StorageUnavailable
from storage.records import LogBatch

logger = logging.getLogger(__name__)


class LogsIngest:
    """What both receivers call with a decoded logs export request."""

    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def export_as(
        self,
        principal: Principal,
        request: ExportLogsServiceRequest | Any,
        protocol: str,
        earlier_errors: Sequence[str] = (),
    ) -> ExportLogsServiceResponse:
        """Check the records against the limits, then store them in the principal's project.

        Raises TooManySpans (too many records), RateLimited, StorageUnavailable or
        RejectedData; nothing is stored then.
        """
        service = self.service
        metrics = service.metrics
        received = count_log_records(request) + len(earlier_errors)
        if received > service.limits.max_spans_per_request:
            metrics.log_records_refused(protocol, "too_many_records", received)
            raise TooManySpans(
                f"the request has {received} log records; at most "
                f"{service.limits.max_spans_per_request} are accepted in one request: "
                "send smaller batches"
            )
        try:
            service.rate_limiter.check_spans(principal, received)
        except RateLimited:
            metrics.log_records_refused(protocol, "rate_limited", received)
            raise
        try:
            response = await self.export(request, principal.project_id, earlier_errors)
        except StorageUnavailable:
            metrics.log_records_refused(protocol, "unavailable", received)
            raise
        except RejectedData:
            metrics.log_records_refused(protocol, "invalid", received)
            raise
        rejected = response.partial_success.rejected_log_records
        metrics.log_records(protocol, received=received, rejected=rejected)
        return response

    async def export(
        self,
        request: ExportLogsServiceRequest | Any,
        project_id: int,
        earlier_errors: Sequence[str] = (),
    ) -> ExportLogsServiceResponse:
        """Store the valid records of ``request``; answer once they are committed."""
        store = self.service.store
        prepared = await self.service.decoder.prepare_logs(request, earlier_errors)
        try:
            await store.write_logs(project_id, prepared.batch)
        except RejectedData as refused:
            await self._write_what_is_accepted(project_id, prepared, refused)
        return prepared.response()

    async def _write_what_is_accepted(
        self, project_id: int, prepared: PreparedLogs, refused: RejectedData
    ) -> None:
        batch = prepared.batch
        refused_records: list[tuple[int, RejectedData]] = []
        pending: list[tuple[list[int], RejectedData]] = [(list(range(len(batch))), refused)]
        while pending:
            indices, error = pending.pop()
            if len(indices) == 1:
                refused_records.append((indices[0], error))
                continue
            middle = len(indices) // 2
            for half in (indices[:middle], indices[middle:]):
                try:
                    await self.service.store.write_logs(project_id, sub_log_batch(batch, half))
                except RejectedData as half_error:
                    pending.append((half, half_error))
        if len(refused_records) == len(batch):
            raise refused
        for index, error in sorted(refused_records, key=lambda item: item[0]):
            prepared.rejected += 1
            field = f" ({error.field})" if error.field else ""
            prepared.errors.append(f"log record {index}: the database refused it{field}: {error}")
        gone = {index for index, _ in refused_records}
        prepared.batch = sub_log_batch(batch, [i for i in range(len(batch)) if i not in gone])


def sub_log_batch(batch: LogBatch, indices: Sequence[int]) -> LogBatch:
    """The records of ``batch`` at ``indices``, with the resources and scopes they use."""
    part = LogBatch()
    for index in indices:
        part.trace_ids.append(batch.trace_ids[index])
        part.span_ids.append(batch.span_ids[index])
        part.time_ns.append(batch.time_ns[index])
        part.resource_hashes.append(batch.resource_hashes[index])
        part.scope_hashes.append(batch.scope_hashes[index])
        part.records.append(batch.records[index])
        resource_hash, scope_hash = batch.resource_hashes[index], batch.scope_hashes[index]
        part.resources.setdefault(resource_hash, batch.resources[resource_hash])
        part.scopes.setdefault(scope_hash, batch.scopes[scope_hash])
    return part
