"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

Requests arrive as raw bytes so that a body that does not decode gets INVALID_ARGUMENT with a
message, not an opaque internal error. Retryable failures carry a ``google.rpc.RetryInfo``,
which the OpenTelemetry Collector needs before it retries RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from receiver.service import IngestService, Overloaded
from storage.store import DEFAULT_PROJECT_ID, StorageUnavailable

logger = logging.getLogger(__name__)

SERVICE_NAME = "opentelemetry.proto.collector.trace.v1.TraceService"


def _retry_metadata(code: grpc.StatusCode, message: str, retry_after_s: int) -> tuple[Any, ...]:
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after_s))
    )
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


class TraceServiceHandler:
    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def export(self, raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        limits = self.service.limits
        try:
            self.service.admission.admit(len(raw))
        except Overloaded as exc:
            await self._abort_retryable(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                str(exc),
                limits.retry_after_overloaded_s,
            )
        try:
            request = ExportTraceServiceRequest()
            try:
                request.ParseFromString(raw)
            except DecodeError as exc:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"message is not a protobuf ExportTraceServiceRequest: {exc}",
                )
            try:
                response = await self.service.export(request, DEFAULT_PROJECT_ID)
            except StorageUnavailable as exc:
                await self._abort_retryable(
                    context,
                    grpc.StatusCode.UNAVAILABLE,
                    f"the database is unavailable, nothing was stored; retry later ({exc})",
                    limits.retry_after_unavailable_s,
                )
            return response.SerializeToString()
        finally:
            self.service.admission.release(len(raw))

    @staticmethod
    async def _abort_retryable(
        context: grpc.aio.ServicerContext[Any, Any],
        code: grpc.StatusCode,
        message: str,
        retry_after_s: int,
    ) -> None:
        await context.abort(
            code, message, trailing_metadata=_retry_metadata(code, message, retry_after_s)
        )


async def start_grpc_server(
    service: IngestService, host: str, port: int
) -> tuple[grpc.aio.Server, int]:
    """Start serving OTLP/gRPC; returns the server and the port it bound (for port 0)."""
    handler = TraceServiceHandler(service)
    max_bytes = service.limits.max_request_bytes
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_send_message_length", 16 * 1024 * 1024),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=service.limits.max_concurrent_grpc_exports,
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE_NAME,
                {
                    "Export": grpc.unary_unary_rpc_method_handler(
                        handler.export, request_deserializer=None, response_serializer=None
                    )
                },
            ),
        )
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound_port = server.add_insecure_port(address)
    if bound_port == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {address}")
    await server.start()
    logger.info("OTLP/gRPC listening on %s:%d", host, bound_port)
    return server, bound_port
