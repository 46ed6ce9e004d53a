"""OTLP/gRPC logs: ``opentelemetry.proto.collector.logs.v1.LogsService/Export``, and the answer
to ``MetricsService/Export``.

The logs handler is the traces handler (``receiver.grpc_server``) with the logs request type:
the same authentication, admission, limits and retryable statuses with ``RetryInfo``. Metrics
exports get UNIMPLEMENTED with a message naming the supported signals.
"""

from __future__ import annotations

from typing import Any, Final

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from receiver.grpc_server import PROTOCOL, TraceServiceHandler
from receiver.logs_service import LogsIngest
from receiver.service import IngestService

LOGS_SERVICE_NAME: Final = "opentelemetry.proto.collector.logs.v1.LogsService"
METRICS_SERVICE_NAME: Final = "opentelemetry.proto.collector.metrics.v1.MetricsService"
METRICS_NOT_SUPPORTED: Final = (
    "AgentGuide does not accept OTLP metrics; the supported signals are traces "
    "(TraceService) and logs (LogsService): drop the metrics pipeline's exporter to AgentGuide"
)


class LogsServiceHandler(TraceServiceHandler):
    request_type: type[Any] = ExportLogsServiceRequest

    def __init__(self, service: IngestService) -> None:
        super().__init__(service)
        self.logs = LogsIngest(service)

    async def _export_request(self, principal: Any, request: Any) -> Any:
        return await self.logs.export_as(principal, request, PROTOCOL)

    @staticmethod
    def _rejected(response: Any) -> int:
        return int(response.partial_success.rejected_log_records)


async def _metrics_export(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, METRICS_NOT_SUPPORTED)
    return b""  # not reached: abort raises


def metrics_handler() -> grpc.GenericRpcHandler:
    """``MetricsService/Export``: UNIMPLEMENTED, naming the supported signals."""
    return grpc.method_handlers_generic_handler(
        METRICS_SERVICE_NAME,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                _metrics_export, request_deserializer=None, response_serializer=None
            )
        },
    )
