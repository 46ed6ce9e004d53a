"""An OTLP/HTTP capture server: keeps every traces and logs request body exactly as sent.

``POST /v1/traces`` and ``POST /v1/logs`` bodies are kept byte for byte with their headers
and a decoded OTLP/JSON rendering; ``POST /v1/metrics`` is answered 200 and dropped. Bodies
may be protobuf or JSON, gzip-compressed or not. Run it with
``python -m tests.fakes.capture_server --port 4318 --out DIR`` (each request written to DIR
as it arrives) or start ``CaptureServer()`` in a thread and call ``write(directory)``.

Files per request (``NNNN`` counts that signal's requests from 0001, in arrival order):

- traces: ``NNNN.body.bin``, ``NNNN.meta.json``, ``NNNN.body.json``
- logs: ``NNNN.logs.bin``, ``NNNN.logs.meta.json``, ``NNNN.logs.json``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError, Message

from tests.fakes.otlp_bodies import SIGNALS, decode, is_json, to_otlp_json

_FILE_NAMES = {
    "traces": ("body.bin", "meta.json", "body.json"),
    "logs": ("logs.bin", "logs.meta.json", "logs.json"),
}


@dataclass
class CapturedRequest:
    signal: str
    body: bytes
    meta: dict[str, Any]
    message: Message
    received_at: float = field(default_factory=time.monotonic)

    def write(self, directory: Path, number: int) -> None:
        """Write this request as ``directory/NNNN.*`` (the names of its signal)."""
        body_name, meta_name, json_name = _FILE_NAMES[self.signal]
        stem = directory / f"{number:04d}"
        Path(f"{stem}.{body_name}").write_bytes(self.body)
        Path(f"{stem}.{meta_name}").write_text(json.dumps(self.meta, indent=2) + "\n")
        rendered = json.dumps(to_otlp_json(self.message), indent=2, ensure_ascii=False)
        Path(f"{stem}.{json_name}").write_text(rendered + "\n")


def _read_chunked(stream: Any) -> bytes:
    body = b""
    while True:
        size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass
            return body
        body += stream.read(size)
        stream.readline()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agentguide-otlp-capture/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        signal = path.rstrip("/").rsplit("/", 1)[-1]
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(self.rfile)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = self.headers.get("Content-Type")
        if signal not in SIGNALS or not path.startswith("/v1/"):
            self._reply(404, b'{"message": "unknown path"}', "application/json")
            return
        try:
            message = decode(signal, body, content_type, self.headers.get("Content-Encoding"))
        except (DecodeError, ValueError, OSError) as exc:
            self._reply(400, json.dumps({"message": str(exc)}).encode(), "application/json")
            return
        if signal in _FILE_NAMES:
            meta = {
                "path": path,
                "content_type": content_type,
                "content_encoding": self.headers.get("Content-Encoding"),
                "body_length": len(body),
                "transfer_encoding": self.headers.get("Transfer-Encoding"),
                "user_agent": self.headers.get("User-Agent"),
                "signal": signal,
            }
            self.server.record(CapturedRequest(signal, body, meta, message))  # type: ignore[attr-defined]
        if is_json(content_type):
            self._reply(200, b"{}", "application/json")
        else:  # an Export*ServiceResponse with no partial success encodes as no bytes
            self._reply(200, b"", "application/x-protobuf")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], out: Path | None) -> None:
        super().__init__(address, _Handler)
        self.captured: list[CapturedRequest] = []
        self.out = out
        self.lock = threading.Lock()

    def record(self, request: CapturedRequest) -> None:
        with self.lock:
            self.captured.append(request)
            if self.out is not None:
                number = sum(1 for r in self.captured if r.signal == request.signal)
                request.write(self.out, number)


class CaptureServer:
    """The capture server on 127.0.0.1 in a daemon thread; ``port=0`` picks a free port."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", out: Path | None = None) -> None:
        self._httpd = _Server((host, port), out)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def captured(self, signal: str | None = None) -> list[CapturedRequest]:
        with self._httpd.lock:
            return [r for r in self._httpd.captured if signal is None or r.signal == signal]

    def wait_quiet(self, quiet_seconds: float = 1.5, timeout: float = 30.0) -> None:
        """Return once no request has arrived for ``quiet_seconds`` (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            requests = self.captured()
            last = requests[-1].received_at if requests else 0.0
            if time.monotonic() - last >= quiet_seconds:
                return
            time.sleep(0.1)

    def write(self, directory: Path) -> None:
        """Write every captured traces and logs request into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        for request in self.captured():
            counts[request.signal] = counts.get(request.signal, 0) + 1
            request.write(directory, counts[request.signal])

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._httpd.serve_forever()

    def start(self) -> CaptureServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--out", type=Path, required=True, help="directory for the bodies")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    server = CaptureServer(args.port, args.host, args.out)
    print(f"OTLP/HTTP capture on http://{args.host}:{server.port} -> {args.out}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
