"""Keys made with the real CLI, and raw OTLP calls with chosen headers, for the security tests."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from tests.otlp_helpers import PROTOBUF
from tests.support import REPO_ROOT

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@dataclass(frozen=True)
class Key:
    id: int
    project: str
    scope: str
    secret: str

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def agentguide(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "agentguide.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def create_key(database_url: str, project: str, scope: str, name: str = "tests") -> Key:
    result = agentguide(
        "keys",
        "create",
        "--project",
        project,
        "--name",
        name,
        "--scope",
        scope,
        "--database-url",
        database_url,
    )
    secret = result.stdout.strip()
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT max(id) FROM api_keys").fetchone()
    assert row is not None
    return Key(int(row[0]), project, scope, secret)


def revoke_key(database_url: str, key: Key) -> None:
    agentguide("keys", "revoke", str(key.id), "--database-url", database_url)


def post_otlp(
    base_url: str, request: ExportTraceServiceRequest, headers: dict[str, str]
) -> httpx.Response:
    return httpx.post(
        base_url + "/v1/traces",
        content=request.SerializeToString(),
        headers={"Content-Type": PROTOBUF, **headers},
        timeout=30,
    )


def grpc_export(
    endpoint: str, request: ExportTraceServiceRequest, metadata: dict[str, str]
) -> tuple[grpc.StatusCode, grpc.RpcError | None]:
    """The status of one raw gRPC export, and the error when it failed."""
    with grpc.insecure_channel(endpoint) as channel:
        export = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=ExportTraceServiceRequest.SerializeToString,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        try:
            export(request, metadata=tuple((k.lower(), v) for k, v in metadata.items()), timeout=30)
        except grpc.RpcError as exc:
            return exc.code(), exc
    return grpc.StatusCode.OK, None


def scrape(
    base_url: str, headers: dict[str, str] | None = None
) -> dict[tuple[str, tuple[Any, ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = httpx.get(base_url + "/metrics", headers=headers or {}, timeout=30)
    assert response.status_code == 200, response.text
    samples: dict[tuple[str, tuple[Any, ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples: dict[tuple[str, tuple[Any, ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
