"""An offline, deterministic OpenAI-compatible HTTP server for recording agent frameworks.

Routes (also without the ``/v1`` prefix, for clients configured with a bare host):

- ``POST /v1/chat/completions`` — non-streaming, or SSE chunks when ``stream`` is true, with
  a last usage chunk when ``stream_options.include_usage`` is true;
- ``POST /v1/responses`` — the Responses API, non-streaming or streaming with the real
  event sequence (``response.created``, ``response.in_progress``,
  ``response.output_item.added``, content/argument deltas, ``response.output_item.done``,
  ``response.completed``);
- ``POST /v1/embeddings`` — deterministic unit vectors (``float`` or ``base64``);
- ``GET /v1/models`` and ``GET /v1/models/<id>``.

What the model says is decided by ``tests.fakes.scenario`` from the request alone; the model
reported is the one the client asked for. Run it with
``python -m tests.fakes.openai_server --port 8000`` or start it in a thread with
``FakeOpenAIServer().start()``. It uses the standard library only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import re
import struct
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.scenario import Conversation, Reply, Tool, Usage, next_reply

CREATED = 1_750_000_000  # a fixed timestamp keeps every response a function of its request
EMBEDDING_DIMENSIONS = 8
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "o4-mini", "text-embedding-3-small")


def _text_of(content: Any) -> str:
    """The text of a message content: a string, or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                text = part.get("text", part.get("content", ""))
                parts.append(text if isinstance(text, str) else _text_of(text))
        return "\n".join(p for p in parts if p)
    return json.dumps(content)


def _parse_arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# --- requests -> conversations -------------------------------------------------------------


# smolagents replays earlier tool calls as text: an assistant message "Calling tools:\n[{...
# 'function': {'name': 'get_weather', ...}}]" and a user message "Observation:\n<result>"
# ("Error:\n Error executing tool '<name>' ..." when the tool raised: then the failed call
# itself is not replayed, only this message names it).
_TRANSCRIPT_CALL = "Calling tools:"
_TRANSCRIPT_NAME = re.compile(r"""['"]name['"]: ['"]([^'"]+)['"]""")
_TRANSCRIPT_RESULT_PREFIXES = ("Observation:", "Error:")
_TRANSCRIPT_FAILED_CALL = re.compile(r"Error executing tool '([^']+)'")


def chat_conversation(request: dict[str, Any]) -> Conversation:
    tools = [
        Tool(
            name=str(fn.get("name", "")),
            description=str(fn.get("description") or ""),
            parameters=fn.get("parameters") or {},
        )
        for fn in (
            [t.get("function") or {} for t in request.get("tools") or [] if isinstance(t, dict)]
            + [f for f in request.get("functions") or [] if isinstance(f, dict)]
        )
    ]
    conversation = Conversation(tools=tools)
    for message in request.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        text = _text_of(message.get("content"))
        if role in ("system", "developer"):
            conversation.system_text += text + "\n"
        elif role == "user" and text.startswith(_TRANSCRIPT_RESULT_PREFIXES):
            conversation.tool_results.append(text.split("\n", 1)[-1])
            conversation.called_tools.extend(_TRANSCRIPT_FAILED_CALL.findall(text))
        elif role == "user":
            conversation.user_texts.append(text)
        elif role == "assistant":
            if not message.get("tool_calls") and _TRANSCRIPT_CALL in text:
                conversation.called_tools.extend(_TRANSCRIPT_NAME.findall(text))
            for call in message.get("tool_calls") or []:
                conversation.called_tools.append(str((call.get("function") or {}).get("name")))
            if message.get("function_call"):
                conversation.called_tools.append(str(message["function_call"].get("name")))
        elif role in ("tool", "function"):
            conversation.tool_results.append(text)
    return conversation


def responses_conversation(request: dict[str, Any]) -> Conversation:
    tools = [
        Tool(
            name=str(t.get("name", "")),
            description=str(t.get("description") or ""),
            parameters=t.get("parameters") or {},
        )
        for t in request.get("tools") or []
        if isinstance(t, dict) and t.get("type", "function") == "function"
    ]
    conversation = Conversation(tools=tools, system_text=str(request.get("instructions") or ""))
    items = request.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "function_call":
            conversation.called_tools.append(str(item.get("name")))
        elif kind == "function_call_output":
            conversation.tool_results.append(_text_of(item.get("output")))
        elif kind == "message":
            text = _text_of(item.get("content"))
            if item.get("role") in ("system", "developer"):
                conversation.system_text += text + "\n"
            elif item.get("role") == "user":
                conversation.user_texts.append(text)
    return conversation


# --- replies -> API bodies -----------------------------------------------------------------


def _request_id(prefix: str, body: bytes, salt: str = "") -> str:
    return prefix + hashlib.sha256(body + salt.encode()).hexdigest()[:24]


def _chat_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _responses_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _chat_tool_calls(reply: Reply, request_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{request_id[-12:]}{index}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json},
        }
        for index, call in enumerate(reply.tool_calls)
    ]


def _chat_reply(request: dict[str, Any]) -> Reply:
    return next_reply(chat_conversation(request))


def chat_completion(request: dict[str, Any], raw: bytes) -> dict[str, Any]:
    reply = _chat_reply(request)
    request_id = _request_id("chatcmpl-", raw)
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = _chat_tool_calls(reply, request_id)
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": request.get("model") or MODELS[0],
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _chat_usage(reply.usage),
    }


def _pieces(text: str, count: int = 3) -> list[str]:
    """``text`` cut into at most ``count`` pieces that join back to it."""
    if not text:
        return [""]
    size = max(1, math.ceil(len(text) / count))
    return [text[i : i + size] for i in range(0, len(text), size)]


def chat_completion_chunks(request: dict[str, Any], raw: bytes) -> Iterator[dict[str, Any]]:
    reply = _chat_reply(request)
    request_id = _request_id("chatcmpl-", raw)
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": request.get("model") or MODELS[0],
        "system_fingerprint": "fp_fake",
    }
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice]}

    yield chunk({"role": "assistant", "content": "" if reply.text is not None else None})
    if reply.text is not None:
        for piece in _pieces(reply.text):
            yield chunk({"content": piece})
    for index, call in enumerate(_chat_tool_calls(reply, request_id)):
        function = call["function"]
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": function["name"], "arguments": ""},
                    }
                ]
            }
        )
        for piece in _pieces(function["arguments"], 2):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if include_usage:
        yield {**base, "choices": [], "usage": _chat_usage(reply.usage)}


def _response_output(reply: Reply, request_id: str) -> list[dict[str, Any]]:
    if reply.tool_calls:
        return [
            {
                "type": "function_call",
                "id": f"fc_{request_id[-12:]}{index}",
                "call_id": f"call_{request_id[-12:]}{index}",
                "name": call.name,
                "arguments": call.arguments_json,
                "status": "completed",
            }
            for index, call in enumerate(reply.tool_calls)
        ]
    return [
        {
            "type": "message",
            "id": f"msg_{request_id[-12:]}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": reply.text or "", "annotations": []}],
        }
    ]


def _response_object(
    request: dict[str, Any], request_id: str, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": request.get("model") or MODELS[0],
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": request.get("store", True),
        "temperature": request.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": request.get("metadata") or {},
    }


def response(request: dict[str, Any], raw: bytes) -> dict[str, Any]:
    reply = next_reply(responses_conversation(request))
    request_id = _request_id("resp_", raw)
    body = _response_object(request, request_id, "completed", _response_output(reply, request_id))
    body["usage"] = _responses_usage(reply.usage)
    return body


def response_events(request: dict[str, Any], raw: bytes) -> Iterator[dict[str, Any]]:
    reply = next_reply(responses_conversation(request))
    request_id = _request_id("resp_", raw)
    output = _response_output(reply, request_id)
    sequence = 0

    def event(kind: str, **fields: Any) -> dict[str, Any]:
        nonlocal sequence
        sequence += 1
        return {"type": kind, "sequence_number": sequence - 1, **fields}

    in_progress = _response_object(request, request_id, "in_progress", [])
    yield event("response.created", response=in_progress)
    yield event("response.in_progress", response=in_progress)
    for index, item in enumerate(output):
        if item["type"] == "function_call":
            yield event(
                "response.output_item.added",
                output_index=index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            for piece in _pieces(item["arguments"], 2):
                yield event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=piece,
                )
            yield event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                arguments=item["arguments"],
            )
        else:
            text = item["content"][0]["text"]
            yield event(
                "response.output_item.added",
                output_index=index,
                item={**item, "content": [], "status": "in_progress"},
            )
            empty_part = {"type": "output_text", "text": "", "annotations": []}
            common = {"item_id": item["id"], "output_index": index, "content_index": 0}
            yield event("response.content_part.added", **common, part=empty_part)
            for piece in _pieces(text):
                yield event("response.output_text.delta", **common, delta=piece, logprobs=[])
            yield event("response.output_text.done", **common, text=text, logprobs=[])
            yield event("response.content_part.done", **common, part=item["content"][0])
        yield event("response.output_item.done", output_index=index, item=item)
    completed = _response_object(request, request_id, "completed", output)
    completed["usage"] = _responses_usage(reply.usage)
    yield event("response.completed", response=completed)


def embedding_vector(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A unit vector made from the SHA-256 of the text: the same text, the same vector."""
    seed = hashlib.sha256(text.encode()).digest()
    while len(seed) < dimensions:
        seed += hashlib.sha256(seed).digest()
    raw = [(byte - 127.5) / 127.5 for byte in seed[:dimensions]]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 6) for v in raw]


def embeddings(request: dict[str, Any]) -> dict[str, Any]:
    inputs = request.get("input")
    if isinstance(inputs, str) or (
        isinstance(inputs, list) and inputs and isinstance(inputs[0], int)
    ):
        inputs = [inputs]
    dimensions = int(request.get("dimensions") or EMBEDDING_DIMENSIONS)
    data = []
    token_count = 0
    for index, item in enumerate(inputs or []):
        text = item if isinstance(item, str) else json.dumps(item)
        token_count += max(1, len(text.split())) if isinstance(item, str) else len(item)
        vector = embedding_vector(text, dimensions)
        encoded: Any = vector
        if request.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": request.get("model") or "text-embedding-3-small",
        "usage": {"prompt_tokens": token_count, "total_tokens": token_count},
    }


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "agentguide-fake"}


# --- HTTP --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agentguide-fake-openai/1"

    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") else path

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send_json(
            status, {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        )

    def _send_events(self, events: Iterator[tuple[str | None, dict[str, Any] | str]]) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for name, data in events:
            text = data if isinstance(data, str) else json.dumps(data)
            frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
            encoded = frame.encode()
            self.wfile.write(f"{len(encoded):x}\r\n".encode() + encoded + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        route = self._route()
        if route == "/models":
            self._send_json(200, {"object": "list", "data": [_model(m) for m in MODELS]})
        elif route.startswith("/models/"):
            self._send_json(200, _model(route.removeprefix("/models/")))
        else:
            self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            self._error(400, "the body is not JSON")
            return
        if not isinstance(request, dict):
            self._error(400, "the body must be a JSON object")
            return
        self.server.requests.append((self._route(), request))  # type: ignore[attr-defined]
        route = self._route()
        if route == "/chat/completions":
            if request.get("stream"):
                chunks = chat_completion_chunks(request, raw)
                self._send_events(
                    [(None, c) for c in chunks] + [(None, "[DONE]")]  # type: ignore[arg-type]
                )
            else:
                self._send_json(200, chat_completion(request, raw))
        elif route == "/responses":
            if request.get("stream"):
                self._send_events(iter([(e["type"], e) for e in response_events(request, raw)]))
            else:
                self._send_json(200, response(request, raw))
        elif route == "/embeddings":
            self._send_json(200, embeddings(request))
        else:
            self._error(404, f"no route POST {self.path}")


class FakeOpenAIServer:
    """The fake on 127.0.0.1 in a daemon thread; ``port=0`` picks a free port."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", verbose: bool = False) -> None:
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.verbose = verbose  # type: ignore[attr-defined]
        self._httpd.requests = []  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        """Every (route, JSON body) received, in arrival order."""
        return self._httpd.requests  # type: ignore[attr-defined, no-any-return]

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._httpd.serve_forever()

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--verbose", action="store_true", help="log each request")
    args = parser.parse_args()
    server = FakeOpenAIServer(args.port, args.host, args.verbose)
    print(f"fake OpenAI API on http://{args.host}:{server.port}/v1", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
