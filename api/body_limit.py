"""A size and time limit on the bodies of the API's own routes (REST ingest, simulate).

The bytes are counted as they arrive, so a chunked body (no Content-Length) or one whose
Content-Length understates it is cut off at the limit instead of being read whole; a body
over the limit gets 413, one that does not arrive in time 408, both in the API's error shape.
``POST /v1/traces`` is left to the OTLP receiver, which reads its body under the ingest's own
limits and admission control.
"""

from __future__ import annotations

import asyncio
from typing import Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

# REST bodies are JSON decoded and validated on the event loop: they are kept small. A run's
# input or output is a JSON value; the span keeps it whole, the API shows 32,768 characters.
MAX_API_BODY_BYTES: Final = 4 * 1024 * 1024
BODY_READ_TIMEOUT_S: Final = 30.0
_EXEMPT_PATHS: Final = frozenset({"/v1/traces", "/v1/logs"})
_METHODS_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_API_BODY_BYTES,
        timeout_s: float = BODY_READ_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _METHODS_WITH_BODY
            or scope["path"] in _EXEMPT_PATHS
        ):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _refuse(send, 413, "payload_too_large", _too_large(int(value), limit))
                return
        received = 0
        response_started = False
        refused = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s

        async def refuse(status_code: int, code: str, message: str) -> Message:
            # The app may turn any error while reading into its own answer (FastAPI makes it
            # a 400): answer here, and tell the app the client is gone.
            nonlocal refused
            if not response_started:
                refused = True
                await _refuse(send, status_code, code, message)
            return {"type": "http.disconnect"}

        async def limited_receive() -> Message:
            nonlocal received
            if refused:
                return {"type": "http.disconnect"}
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                return await refuse(
                    408, "request_timeout", f"the body did not arrive within {self.timeout_s:g} s"
                )
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    return await refuse(
                        413, "payload_too_large", f"the body is over the limit of {limit} bytes"
                    )
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # the refusal has been sent
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)


def _too_large(size: int, limit: int) -> str:
    return f"the body is {size} bytes; at most {limit} are accepted"


async def _refuse(send: Send, status_code: int, code: str, message: str) -> None:
    body = orjson.dumps(error_body(code, message))
    await send(
        {
            "type": "http.response.start",
            "status": status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
