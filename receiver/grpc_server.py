"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` (and the logs
service, ``receiver.logs_grpc``).

The method is served as client-streaming, which on the wire is the same as unary (a unary call
is a stream of one message), so that the handler runs when the call starts, before gRPC has
read the message: the sender is authenticated from the metadata and the export is admitted
(``receiver.admission``) first, and only then is the message read. An export that waits too
long for its turn gets RESOURCE_EXHAUSTED; every retryable failure carries a
``google.rpc.RetryInfo``, which the OpenTelemetry Collector needs before it retries
RESOURCE_EXHAUSTED. The message arrives as raw bytes so that one that does not decode gets
INVALID_ARGUMENT with a message, not an opaque internal error. The API key is read from the
``authorization`` or ``x-api-key`` metadata; a missing or invalid one gets UNAUTHENTICATED, a
key that may not send spans PERMISSION_DENIED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from receiver.admission import Overloaded
from receiver.auth import (
    API_KEY_HEADER,
    AUTHORIZATION_HEADER,
    PROJECT_HEADER,
    AuthError,
    Unauthenticated,
)
from receiver.decoding import DecoderUnavailable
from receiver.metrics import ExportOutcome
from receiver.rate_limit import RateLimited
from receiver.request_id import REQUEST_ID_HEADER, begin_request, end_request
from receiver.service import IngestService, TooManySpans
from storage.errors import RejectedData, StorageUnavailable

logger = logging.getLogger(__name__)

SERVICE_NAME = "opentelemetry.proto.collector.trace.v1.TraceService"
PROTOCOL = "grpc"


def _retry_metadata(code: grpc.StatusCode, message: str, retry_after_s: float) -> tuple[Any, ...]:
    """The retry delay as a ``google.rpc.RetryInfo``: in the status details (read by the
    Collector) and on its own under ``google.rpc.retryinfo-bin`` (read by the Python SDK)."""
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(max(0, round(retry_after_s * 1e9)))
    retry_info = error_details_pb2.RetryInfo(retry_delay=delay)
    detail = any_pb2.Any()
    detail.Pack(retry_info)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (
        ("grpc-status-details-bin", status.SerializeToString()),
        ("google.rpc.retryinfo-bin", retry_info.SerializeToString()),
    )


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    """The request's text metadata by (lower-case) key."""
    return {
        key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)
    }


class TraceServiceHandler:
    """``TraceService/Export``; ``receiver.logs_grpc`` serves ``LogsService/Export`` by
    overriding what differs per signal."""

    request_type: type[Any] = ExportTraceServiceRequest

    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def _export_request(self, principal: Any, request: Any) -> Any:
        return await self.service.export_as(principal, request, PROTOCOL)

    @staticmethod
    def _rejected(response: Any) -> int:
        return int(response.partial_success.rejected_spans)

    async def export(
        self, _requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        metadata = _metadata(context)
        _, token = begin_request(metadata.get(REQUEST_ID_HEADER))
        try:
            with self.service.metrics.export(PROTOCOL) as result:
                return await self._export(context, metadata, result)
        finally:
            end_request(token)

    async def _export(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        metadata: dict[str, str],
        result: ExportOutcome,
    ) -> bytes:
        """Answer one export; ``result.outcome`` is set before every abort (which raises)."""
        service = self.service
        limits = service.limits
        try:
            principal = await service.admit_sender(
                metadata.get(AUTHORIZATION_HEADER),
                metadata.get(API_KEY_HEADER),
                metadata.get(PROJECT_HEADER),
            )
        except AuthError as exc:
            logger.info("export refused: %s", exc.message, extra={"status": exc.status_code})
            unauthenticated = isinstance(exc, Unauthenticated)
            result.outcome = "unauthenticated" if unauthenticated else "permission_denied"
            code = (
                grpc.StatusCode.UNAUTHENTICATED
                if unauthenticated
                else grpc.StatusCode.PERMISSION_DENIED
            )
            await context.abort(code, exc.message)
        except RateLimited as exc:
            result.outcome = "rate_limited"
            await _abort_retryable(
                context, grpc.StatusCode.RESOURCE_EXHAUSTED, exc.message, exc.retry_after_s
            )
        except StorageUnavailable as exc:
            result.outcome = "unavailable"
            await self._abort_unavailable(context, exc)
        # The message's size is not known before it is read: hold the request limit.
        try:
            ticket = await service.admission.enter(limits.max_request_bytes)
        except Overloaded as exc:
            result.outcome = "overloaded"
            await _abort_retryable(
                context, grpc.StatusCode.RESOURCE_EXHAUSTED, exc.message, exc.retry_after_s
            )
        try:
            try:
                raw = await asyncio.wait_for(context.read(), limits.body_read_timeout_s)
            except TimeoutError:
                result.outcome = "timeout"
                await context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"the message did not arrive within {limits.body_read_timeout_s:g} s",
                )
            if not isinstance(raw, bytes):
                result.outcome = "invalid"
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message"
                )
            await ticket.resize(len(raw))
            try:
                request, _ = await service.decoder.protobuf(raw, self.request_type)
            except DecodeError as exc:
                result.outcome = "invalid"
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"message is not a protobuf {self.request_type.DESCRIPTOR.name}: {exc}",
                )
            del raw
            try:
                response = await self._export_request(principal, request)
            except TooManySpans as exc:
                result.outcome = "too_many_spans"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except RejectedData as exc:
                result.outcome = "invalid"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, rejected_message(exc))
            except RateLimited as exc:
                result.outcome = "rate_limited"
                await _abort_retryable(
                    context, grpc.StatusCode.RESOURCE_EXHAUSTED, exc.message, exc.retry_after_s
                )
            except (StorageUnavailable, DecoderUnavailable) as exc:
                result.outcome = "unavailable"
                await self._abort_unavailable(context, exc)
            result.outcome = "partial" if self._rejected(response) else "ok"
            return response.SerializeToString()
        finally:
            service.admission.leave(ticket)

    async def _abort_unavailable(
        self, context: grpc.aio.ServicerContext[Any, Any], exc: Exception
    ) -> None:
        await _abort_retryable(
            context,
            grpc.StatusCode.UNAVAILABLE,
            unavailable_message(exc),
            self.service.limits.retry_after_unavailable_s,
        )


def unavailable_message(exc: Exception) -> str:
    if isinstance(exc, StorageUnavailable):
        return f"the database is unavailable, nothing was stored; retry later ({exc})"
    return f"{exc}; nothing was stored, retry later"


def rejected_message(exc: RejectedData) -> str:
    field = f" in {exc.field}" if exc.field else ""
    return f"the database refused the data{field}, nothing was stored: {exc.message}"


async def _abort_retryable(
    context: grpc.aio.ServicerContext[Any, Any],
    code: grpc.StatusCode,
    message: str,
    retry_after_s: float,
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
            # Without BDP probing the HTTP/2 windows stay small, so the messages of exports that
            # are waiting or refused are not read into memory: gRPC reads a message only once
            # the handler asks for it, after admission.
            ("grpc.http2.bdp_probe", 0),
        ],
    )
    from receiver.logs_grpc import LOGS_SERVICE_NAME, LogsServiceHandler, metrics_handler

    logs_handler = LogsServiceHandler(service)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE_NAME,
                {
                    "Export": grpc.stream_unary_rpc_method_handler(
                        handler.export, request_deserializer=None, response_serializer=None
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                LOGS_SERVICE_NAME,
                {
                    "Export": grpc.stream_unary_rpc_method_handler(
                        logs_handler.export, request_deserializer=None, response_serializer=None
                    )
                },
            ),
            metrics_handler(),
        )
    )
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound_port = server.add_insecure_port(address)
    if bound_port == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {address}")
    await server.start()
    logger.info("OTLP/gRPC listening on %s:%d", host, bound_port)
    return server, bound_port
