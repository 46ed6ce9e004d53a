"""OTLP/HTTP logs: ``POST /v1/logs``, and the answer to ``POST /v1/metrics``.

The logs endpoint is the traces endpoint (``receiver.http``) with the logs request type: the
same content types, gzip, limits, admission, auth and retryable answers. Metrics are not a
signal AgentGuide keeps: their requests get 404 with a ``google.rpc.Status`` saying which
signals are supported, so a Collector's log says why.
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from starlette.requests import Request
from starlette.responses import Response

from receiver.http import JSON, PROTOBUF, PROTOCOL, OtlpHttpReceiver, error_response
from receiver.logs_service import LogsIngest
from receiver.service import IngestService

METRICS_NOT_SUPPORTED: Final = (
    "AgentGuide does not accept OTLP metrics; the supported signals are traces (/v1/traces) "
    "and logs (/v1/logs): drop the metrics pipeline's exporter to AgentGuide"
)


class OtlpLogsHttpReceiver(OtlpHttpReceiver):
    """The Starlette endpoint for ``POST /v1/logs``."""

    request_type: type[Any] = ExportLogsServiceRequest

    def __init__(self, service: IngestService) -> None:
        super().__init__(service)
        self.logs = LogsIngest(service)

    async def _decode_json(self, body: bytes) -> tuple[Any, list[str]]:
        return await self.service.decoder.json(body, logs=True)

    async def _export(self, principal: Any, request: Any, decode_errors: list[str]) -> Any:
        return await self.logs.export_as(principal, request, PROTOCOL, decode_errors)

    @staticmethod
    def _rejected(response: Any) -> int:
        return int(response.partial_success.rejected_log_records)


async def metrics_not_supported(request: Request) -> Response:
    """``POST /v1/metrics``: 404, naming the signals that are supported."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    media_type = PROTOBUF if content_type in (PROTOBUF, "application/protobuf") else JSON
    return error_response(404, METRICS_NOT_SUPPORTED, media_type)
