"""A real HTTP server on 127.0.0.1 that plays a webhook receiver: it answers each request
with the next scripted status and keeps every request it got."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """Statuses to answer in order (the last one repeats), with optional extra headers."""

    statuses: list[int] = field(default_factory=lambda: [200])
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok": true}'
    stall_first: float = 0.0  # seconds to wait before answering the first request


class Receiver:
    def __init__(self, script: Script | None = None, port: int = 0) -> None:
        self.script = script or Script()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    position = min(len(receiver.received), len(receiver.script.statuses)) - 1
                    status = receiver.script.statuses[position]
                    first = len(receiver.received) == 1
                if first and receiver.script.stall_first:
                    time.sleep(receiver.script.stall_first)
                try:
                    self.send_response(status)
                    for name, value in receiver.script.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(receiver.script.body)))
                    self.end_headers()
                    self.wfile.write(receiver.script.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting: that is what the test is about

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/agentguide"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


def unused_port() -> int:
    """A port nothing listens on now (connections to it are refused until someone binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
