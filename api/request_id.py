"""Every HTTP request gets an id: the caller's ``X-Request-Id`` when usable, else a new one.

It is current (``receiver.request_id``) while the request is served, so every log line carries
it, and it is returned in the response's ``X-Request-Id`` header.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiver.request_id import REQUEST_ID_HEADER, begin_request, end_request

_HEADER = REQUEST_ID_HEADER.encode()


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (value.decode("latin-1") for name, value in scope["headers"] if name == _HEADER),
            None,
        )
        request_id, token = begin_request(incoming)
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (_HEADER, encoded)]
            await send(message)

        await self.app(scope, receive, send_with_id)
        # Not reset when the request failed: the server logs the error after this returns,
        # and each request runs in a task (a context) of its own.
        end_request(token)
