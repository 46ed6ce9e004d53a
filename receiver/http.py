"""OTLP/HTTP: ``POST /v1/traces`` (and ``/v1/logs``) with protobuf or JSON bodies, gzip or not.

Errors are answered with a ``google.rpc.Status`` in the request's encoding, per the OTLP
specification; retryable ones (429, 503) carry ``Retry-After``. An export is admitted
(``receiver.admission``) before its body is read, holding its declared length, or the request
limit when the length is not known before reading (a chunked or gzip body) until it has been
read; the body is read against the request limit whatever the headers say.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import zlib
from collections.abc import Mapping
from typing import Any, Final

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from receiver.admission import Overloaded, Ticket
from receiver.auth import API_KEY_HEADER, AUTHORIZATION_HEADER, PROJECT_HEADER, AuthError
from receiver.decoding import DecoderUnavailable
from receiver.grpc_server import rejected_message, unavailable_message
from receiver.otlp_json import OtlpJsonError
from receiver.rate_limit import RateLimited
from receiver.service import IngestService, TooManySpans
from storage.errors import RejectedData, StorageUnavailable

logger = logging.getLogger(__name__)

PROTOCOL: Final = "http"
_AUTH_OUTCOMES: Final = {401: "unauthenticated", 403: "permission_denied"}

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
_PROTOBUF_ALIASES: Final = frozenset({PROTOBUF, "application/protobuf"})

_GRPC_CODE_BY_STATUS: Final = {
    400: code_pb2.INVALID_ARGUMENT,
    408: code_pb2.DEADLINE_EXCEEDED,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.UNIMPLEMENTED,
    405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


class BodyError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def error_response(
    status_code: int,
    message: str,
    media_type: str = JSON,
    retry_after_s: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A ``google.rpc.Status`` body in the given encoding."""
    status = status_pb2.Status(
        code=_GRPC_CODE_BY_STATUS.get(status_code, code_pb2.UNKNOWN), message=message
    )
    response_headers = dict(headers or {})
    if retry_after_s is not None:
        response_headers["Retry-After"] = str(retry_after_s)
    if media_type == PROTOBUF:
        body = status.SerializeToString()
    else:
        body = orjson.dumps(json_format.MessageToDict(status))
    return Response(body, status_code=status_code, media_type=media_type, headers=response_headers)


def declared_length(request: Request, limit: int) -> int | None:
    """The body's Content-Length, or None when it is not given (a chunked body).

    Raises BodyError: 400 when it is not a number, 413 when it is over ``limit``.
    """
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    if not declared.strip().isdigit():
        raise BodyError(400, f"Content-Length {declared[:32]!r} is not a number")
    size = int(declared)
    if size > limit:
        raise BodyError(413, f"body of {size} bytes is over the limit of {limit}")
    return size


async def read_body(request: Request, limit: int, timeout_s: float | None = None) -> bytes:
    """The request body, refusing (413) to hold more than ``limit`` bytes of it, and (408) to
    wait more than ``timeout_s`` for all of it."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyError(413, f"body is over the limit of {limit} bytes")
                chunks.append(chunk)
    except ClientDisconnect:
        raise BodyError(400, "the client disconnected before sending the whole body") from None
    except TimeoutError:
        raise BodyError(408, f"the body did not arrive within {timeout_s:g} s") from None
    return b"".join(chunks)


def gzip_size_hint(body: bytes, limit: int) -> int:
    """The decompressed size a gzip body announces in its trailer, within ``limit``.

    Only a hint (it is the last member's size modulo 2^32, and senders may lie): ``gunzip``
    enforces the limit whatever it says.
    """
    if len(body) < 18:
        return 0
    (announced,) = struct.unpack("<I", body[-4:])
    return min(announced, limit)


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body without ever holding more than ``limit`` bytes of output."""
    output: list[bytes] = []
    size = 0
    remaining = body
    try:
        while remaining:
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = remaining
            while data:
                chunk = decompressor.decompress(data, limit - size + 1)
                size += len(chunk)
                if size > limit:
                    raise BodyError(413, f"body is over the limit of {limit} bytes once gunzipped")
                output.append(chunk)
                data = decompressor.unconsumed_tail
            if not decompressor.eof:
                raise BodyError(400, "gzip body is truncated")
            remaining = decompressor.unused_data
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid gzip: {exc}") from None
    return b"".join(output)


def _media_type(request: Request) -> str | None:
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _PROTOBUF_ALIASES:
        return PROTOBUF
    if media_type == JSON:
        return JSON
    return None


class OtlpHttpReceiver:
    """The Starlette endpoint for ``POST /v1/traces``; ``receiver.logs_http`` serves
    ``POST /v1/logs`` by overriding what differs per signal (the request type, decoding,
    storing, and what the answer rejected)."""

    request_type: type[Any] = ExportTraceServiceRequest

    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def _decode_json(self, body: bytes) -> tuple[Any, list[str]]:
        return await self.service.decoder.json(body)

    async def _export(self, principal: Any, request: Any, decode_errors: list[str]) -> Any:
        return await self.service.export_as(principal, request, PROTOCOL, decode_errors)

    @staticmethod
    def _rejected(response: Any) -> int:
        return int(response.partial_success.rejected_spans)

    async def handle(self, request: Request) -> Response:
        with self.service.metrics.export(PROTOCOL) as result:
            response, result.outcome = await self._handle(request)
            return response

    async def _handle(self, request: Request) -> tuple[Response, str]:
        """The answer, and the outcome it is counted under."""
        service = self.service
        limits = service.limits
        media_type = _media_type(request)
        headers = request.headers
        try:
            principal = await service.admit_sender(
                headers.get(AUTHORIZATION_HEADER),
                headers.get(API_KEY_HEADER),
                headers.get(PROJECT_HEADER),
            )
        except AuthError as exc:
            logger.info("export refused: %s", exc.message, extra={"status": exc.status_code})
            return auth_error_response(exc, media_type or JSON), _AUTH_OUTCOMES[exc.status_code]
        except RateLimited as exc:
            return _rate_limited(exc, media_type or JSON), "rate_limited"
        except StorageUnavailable as exc:
            return _unavailable(exc, media_type or JSON, limits.retry_after_unavailable_s), (
                "unavailable"
            )
        if media_type is None:
            shown = headers.get("content-type", "") or "none"
            message = f"unsupported Content-Type {shown[:100]!r}: send {PROTOBUF} or {JSON}"
            return error_response(415, message), "unsupported"
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            message = f"unsupported Content-Encoding {encoding[:50]!r}: send gzip or none"
            return error_response(415, message, media_type), "unsupported"
        try:
            declared = declared_length(request, limits.max_request_bytes)
        except BodyError as exc:
            outcome = "too_large" if exc.status_code == 413 else "invalid"
            return error_response(exc.status_code, exc.message, media_type), outcome
        # A chunked or gzip body may grow to the request limit: hold that until it is read.
        reserve = declared if declared is not None and encoding != "gzip" else None
        try:
            ticket = await service.admission.enter(
                limits.max_request_bytes if reserve is None else reserve
            )
        except Overloaded as exc:
            return _overloaded(exc, media_type), "overloaded"
        try:
            return await self._admitted(request, ticket, principal, media_type, encoding)
        finally:
            service.admission.leave(ticket)

    async def _admitted(
        self, request: Request, ticket: Ticket, principal: Any, media_type: str, encoding: str
    ) -> tuple[Response, str]:
        service = self.service
        limits = service.limits
        try:
            body = await read_body(request, limits.max_request_bytes, limits.body_read_timeout_s)
            if encoding == "gzip":
                hint = gzip_size_hint(body, limits.max_request_bytes)
                await ticket.resize(len(body) + hint)
                body = await service.decoder.run(gunzip, body, limits.max_request_bytes)
            await ticket.resize(len(body))
            decode_errors: list[str] = []
            if media_type == PROTOBUF:
                try:
                    export_request, _ = await service.decoder.protobuf(body, self.request_type)
                except DecodeError as exc:
                    raise BodyError(
                        400,
                        f"body is not a protobuf {self.request_type.DESCRIPTOR.name}: {exc}",
                    ) from None
            else:
                try:
                    export_request, decode_errors = await self._decode_json(body)
                except OtlpJsonError as exc:
                    raise BodyError(400, str(exc)) from None
            del body
            response = await self._export(principal, export_request, decode_errors)
        except BodyError as exc:
            outcome = {413: "too_large", 408: "timeout"}.get(exc.status_code, "invalid")
            return error_response(exc.status_code, exc.message, media_type), outcome
        except TooManySpans as exc:
            return error_response(413, str(exc), media_type), "too_many_spans"
        except RejectedData as exc:
            return error_response(400, rejected_message(exc), media_type), "invalid"
        except RateLimited as exc:
            return _rate_limited(exc, media_type), "rate_limited"
        except Overloaded as exc:
            return _overloaded(exc, media_type), "overloaded"
        except (StorageUnavailable, DecoderUnavailable) as exc:
            return _unavailable(exc, media_type, limits.retry_after_unavailable_s), "unavailable"
        outcome = "partial" if self._rejected(response) else "ok"
        if media_type == PROTOBUF:
            return Response(response.SerializeToString(), media_type=PROTOBUF), outcome
        body_json = orjson.dumps(json_format.MessageToDict(response))
        return Response(body_json, media_type=JSON), outcome


def auth_error_response(exc: AuthError, media_type: str = JSON) -> Response:
    """401 with a ``WWW-Authenticate: Bearer`` challenge, or 403."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc.status_code, exc.message, media_type, headers=headers)


def _rate_limited(exc: RateLimited, media_type: str) -> Response:
    return error_response(
        429, exc.message, media_type, headers={"Retry-After": exc.retry_after_header}
    )


def _overloaded(exc: Overloaded, media_type: str) -> Response:
    return error_response(429, exc.message, media_type, max(1, math.ceil(exc.retry_after_s)))


def _unavailable(exc: Exception, media_type: str, retry_after_s: int) -> Response:
    return error_response(503, unavailable_message(exc), media_type, retry_after_s)
