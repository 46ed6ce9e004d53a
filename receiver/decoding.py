"""Decoding and preparing export requests away from the event loop.

The event loop answers every export, query and health check, so nothing that takes long may
run on it. Parsing protobuf and preparing a batch run in a small thread pool: the loop gets
the interpreter back between Python steps. JSON bodies from ``PROCESS_THRESHOLD_BYTES`` up
are decoded in a separate process, one at a time: ``orjson.loads`` of a 32 MiB body is one
long call that would hold the interpreter (and so the loop) for a quarter of a second, and
its objects take about three times the body's size; in a process of its own neither touches
the server. Smaller JSON bodies are decoded in a thread.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Final, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mapping.wire import parse_lenient, readable
from receiver.ingest import PreparedRequest, prepare_request
from receiver.log_ingest import PreparedLogs, prepare_logs
from receiver.otlp_json import request_from_json_bytes, serialized_request_from_json
from receiver.otlp_json_logs import (
    logs_request_from_json_bytes,
    serialized_logs_request_from_json,
)

PROCESS_THRESHOLD_BYTES: Final = 1024 * 1024
DECODE_THREADS: Final = 2
STORE_INVALID_UTF8_AS_SENT: Final = True

T = TypeVar("T")


class DecoderUnavailable(Exception):
    """The decoding process died (e.g. killed for memory): the sender may retry."""


def _decode_in_process(
    body: bytes, release_memory: Callable[[], None] | None, logs: bool = False
) -> tuple[bytes, list[str]]:
    try:
        if logs:
            return serialized_logs_request_from_json(body)
        return serialized_request_from_json(body)
    finally:
        if release_memory is not None:
            release_memory()


class Decoder:
    """The threads and the (lazily started) process that decode for one server.

    ``tune_memory`` runs when the decoding process starts and ``release_memory`` after each
    body it decodes (module-level functions: they are sent to the process by name), so that
    its resident size drops back between bodies.
    """

    def __init__(
        self,
        process_threshold_bytes: int = PROCESS_THRESHOLD_BYTES,
        *,
        tune_memory: Callable[[], object] | None = None,
        release_memory: Callable[[], None] | None = None,
    ) -> None:
        self.process_threshold_bytes = process_threshold_bytes
        self._tune_memory = tune_memory
        self._release_memory = release_memory
        self._threads = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="agentguide-decode")
        self._process: ProcessPoolExecutor | None = None

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, function, *args)

    async def protobuf(
        self, payload: bytes, message_type: type[Any] = ExportTraceServiceRequest
    ) -> tuple[Any, bool]:
        """An export request (of traces, or of ``message_type``), and whether it had strings
        that are not UTF-8. Raises DecodeError.

        Such strings are stored as sent: the deriver and the API read stored spans through
        ``mapping.wire.readable``, which shows them with U+FFFD.
        """
        message, lenient = await self._in_thread(parse_lenient, message_type, payload)
        if lenient and not STORE_INVALID_UTF8_AS_SENT:
            message = await self._in_thread(readable, message_type, payload)
        return message, lenient

    async def json(self, body: bytes, *, logs: bool = False) -> tuple[Any, list[str]]:
        """An OTLP/JSON body decoded (a traces request, or with ``logs`` a logs request), and
        the spans (records) it leaves out. Raises OtlpJsonError or DecoderUnavailable."""
        if len(body) < self.process_threshold_bytes:
            decode = logs_request_from_json_bytes if logs else request_from_json_bytes
            return await self._in_thread(decode, body)
        loop = asyncio.get_running_loop()
        try:
            payload, rejected = await loop.run_in_executor(
                self._decoding_process(), _decode_in_process, body, self._release_memory, logs
            )
        except BrokenProcessPool as exc:
            self._process = None
            raise DecoderUnavailable(f"the JSON decoding process stopped: {exc}") from exc
        del body
        message_type = ExportLogsServiceRequest if logs else ExportTraceServiceRequest
        request = await self._in_thread(message_type.FromString, payload)
        return request, rejected

    async def prepare_logs(self, request: Any, earlier_errors: Sequence[str]) -> PreparedLogs:
        return await self._in_thread(prepare_logs, request, earlier_errors)

    async def prepare(self, request: Any, earlier_errors: Sequence[str]) -> PreparedRequest:
        return await self._in_thread(prepare_request, request, earlier_errors)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Any other CPU-bound step (e.g. rendering a trace) in the decoding threads."""
        return await self._in_thread(function, *args)

    def _decoding_process(self) -> ProcessPoolExecutor:
        if self._process is None:
            # spawn, not fork: the server has gRPC's threads, which a fork would copy mid-step.
            self._process = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=self._tune_memory
            )
        return self._process

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        if self._process is not None:
            self._process.shutdown(wait=False, cancel_futures=True)
            self._process = None
