"""Where spans go: OTLP endpoints and headers as the user gives them, and the SDK exporter
(or :class:`~agentguide.simulation.otlp_json.OTLPJSONSpanExporter`) for each protocol."""

from __future__ import annotations

import urllib.parse

from opentelemetry.sdk.trace.export import SpanExporter

from agentguide.simulation.config import Protocol, SimulationConfig
from agentguide.simulation.otlp_json import OTLPJSONSpanExporter

__all__ = [
    "DEFAULT_GRPC_ENDPOINT",
    "DEFAULT_HTTP_ENDPOINT",
    "OTLP_TRACES_PATH",
    "agentguide_api_url",
    "build_span_exporter",
    "parse_headers",
    "resolve_endpoint",
]

DEFAULT_HTTP_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_GRPC_ENDPOINT = "http://127.0.0.1:4317"
OTLP_TRACES_PATH = "/v1/traces"


def resolve_endpoint(protocol: Protocol, endpoint: str | None) -> str:
    """The URL an exporter posts to: ``/v1/traces`` is added to a bare HTTP base URL."""
    if protocol == "grpc":
        url = endpoint or DEFAULT_GRPC_ENDPOINT
        return url if "://" in url else f"http://{url}"
    url = endpoint or DEFAULT_HTTP_ENDPOINT
    if "://" not in url:
        url = f"http://{url}"
    parts = urllib.parse.urlsplit(url)
    if parts.path in ("", "/"):
        url = urllib.parse.urlunsplit(parts._replace(path=OTLP_TRACES_PATH))
    return url


def agentguide_api_url(protocol: Protocol, endpoint: str | None) -> str:
    """AgentGuide's HTTP base URL, guessed from the OTLP endpoint (gRPC 4317 -> HTTP 4318)."""
    parts = urllib.parse.urlsplit(resolve_endpoint(protocol, endpoint))
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if protocol == "grpc":
        port = 4318 if port in (None, 4317) else port
    scheme = "https" if parts.scheme == "https" else "http"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def parse_headers(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` as in OTEL_EXPORTER_OTLP_HEADERS; values may be percent-encoded."""
    headers: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"header {pair.strip()!r} is not of the form key=value")
        headers[key.strip()] = urllib.parse.unquote(value.strip())
    return headers


def build_span_exporter(config: SimulationConfig) -> SpanExporter:
    """The OTLP exporter for ``config.protocol``, aimed at ``config.endpoint``."""
    endpoint = resolve_endpoint(config.protocol, config.endpoint)
    headers = dict(config.headers)
    if config.protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(
            endpoint=endpoint,
            insecure=not endpoint.startswith("https://"),
            headers=headers,
            timeout=config.timeout_s,
            compression=grpc.Compression.Gzip if config.compression == "gzip" else None,
        )
    if config.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpSpanExporter,
        )

        return HttpSpanExporter(
            endpoint=endpoint,
            headers=headers,
            timeout=config.timeout_s,
            compression=(
                HttpCompression.Gzip
                if config.compression == "gzip"
                else HttpCompression.NoCompression
            ),
        )
    return OTLPJSONSpanExporter(
        endpoint, headers=headers, timeout_s=config.timeout_s, compression=config.compression
    )
