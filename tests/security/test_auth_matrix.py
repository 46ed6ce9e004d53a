"""The auth matrix: every kind of credential against OTLP/HTTP, OTLP/gRPC and the query API."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import httpx
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.otlp_helpers import spans_by_id
from tests.security.conftest import SecuredServer
from tests.security.helpers import create_key, grpc_export, post_otlp, revoke_key
from tests.security.spans import agent_run
from tests.support import wait_derived

UNKNOWN_KEY = "ag_" + "A" * 43
Headers = Callable[[SecuredServer], dict[str, str]]


def _bearer(name: str) -> Headers:
    return lambda s: s.keys[name].bearer()


def _api_key(name: str) -> Headers:
    return lambda s: {"X-API-Key": s.keys[name].secret}


def _with_project(headers: Headers, project: str) -> Headers:
    return lambda s: {**headers(s), "X-AgentGuide-Project": project}


# (case, headers, HTTP status, gRPC status) for sending spans.
INGEST_MATRIX: list[tuple[str, Headers, int, grpc.StatusCode]] = [
    ("no key", lambda s: {}, 401, grpc.StatusCode.UNAUTHENTICATED),
    (
        "malformed scheme",
        lambda s: {"Authorization": "Basic dXNlcjpwYXNz"},
        401,
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    (
        "malformed key",
        lambda s: {"Authorization": "Bearer not-a-key"},
        401,
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    (
        "two different keys",
        lambda s: {**s.keys["alpha-ingest"].bearer(), "X-API-Key": s.keys["beta-ingest"].secret},
        401,
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    (
        "unknown key",
        lambda s: {"Authorization": f"Bearer {UNKNOWN_KEY}"},
        401,
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    ("revoked key", _bearer("alpha-revoked"), 401, grpc.StatusCode.UNAUTHENTICATED),
    ("read key (wrong scope)", _bearer("alpha-read"), 403, grpc.StatusCode.PERMISSION_DENIED),
    (
        "other project's key",
        _with_project(_bearer("beta-ingest"), "alpha"),
        403,
        grpc.StatusCode.PERMISSION_DENIED,
    ),
    ("ingest key, Bearer", _bearer("alpha-ingest"), 200, grpc.StatusCode.OK),
    ("ingest key, X-API-Key", _api_key("alpha-ingest"), 200, grpc.StatusCode.OK),
    (
        "ingest key naming its project",
        _with_project(_bearer("alpha-ingest"), "alpha"),
        200,
        grpc.StatusCode.OK,
    ),
    ("admin key", _bearer("alpha-admin"), 200, grpc.StatusCode.OK),
]

# (case, headers, status) for reading one of project alpha's runs.
READ_MATRIX: list[tuple[str, Headers, int]] = [
    ("no key", lambda s: {}, 401),
    ("malformed scheme", lambda s: {"Authorization": "Token abc"}, 401),
    ("malformed key", lambda s: {"X-API-Key": "ag_short"}, 401),
    ("unknown key", lambda s: {"X-API-Key": UNKNOWN_KEY}, 401),
    ("revoked key", _bearer("alpha-revoked"), 401),
    ("ingest key (wrong scope)", _bearer("alpha-ingest"), 403),
    ("other project's read key", _bearer("beta-read"), 404),
    ("other project's read key naming alpha", _with_project(_bearer("beta-read"), "alpha"), 403),
    ("read key, Bearer", _bearer("alpha-read"), 200),
    ("read key, X-API-Key", _api_key("alpha-read"), 200),
    ("admin key", _bearer("alpha-admin"), 200),
]


@pytest.fixture(scope="module")
def alpha_run(secured: SecuredServer) -> str:
    request, run_id = agent_run("alpha-agent")
    response = post_otlp(secured.server.http_url, request, secured.keys["alpha-ingest"].bearer())
    assert response.status_code == 200, response.text
    wait_derived(secured.database_url)
    return run_id


@pytest.mark.parametrize(
    ("case", "headers", "status", "code"), INGEST_MATRIX, ids=[c[0] for c in INGEST_MATRIX]
)
def test_otlp_http(
    secured: SecuredServer, case: str, headers: Headers, status: int, code: grpc.StatusCode
) -> None:
    request, _ = agent_run("http-agent")
    response = post_otlp(secured.server.http_url, request, headers(secured))
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    if status != 200:
        error = status_pb2.Status.FromString(response.content)
        assert (
            error.code == {401: code_pb2.UNAUTHENTICATED, 403: code_pb2.PERMISSION_DENIED}[status]
        )
        assert error.message
        for secret in secured.all_secrets():
            assert secret not in error.message


@pytest.mark.parametrize(
    ("case", "headers", "status", "code"), INGEST_MATRIX, ids=[c[0] for c in INGEST_MATRIX]
)
def test_otlp_grpc(
    secured: SecuredServer, case: str, headers: Headers, status: int, code: grpc.StatusCode
) -> None:
    request, _ = agent_run("grpc-agent")
    result, error = grpc_export(secured.server.grpc_endpoint, request, headers(secured))
    assert result == code, error
    if error is not None:
        details = error.details() or ""
        for secret in secured.all_secrets():
            assert secret not in details


@pytest.mark.parametrize(
    ("case", "headers", "status"), READ_MATRIX, ids=[c[0] for c in READ_MATRIX]
)
def test_query_api(
    secured: SecuredServer, alpha_run: str, case: str, headers: Headers, status: int
) -> None:
    response = httpx.get(
        f"{secured.server.http_url}/v1/runs/{alpha_run}", headers=headers(secured), timeout=30
    )
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["agent"]["name"] == "alpha-agent"
    else:
        assert set(response.json()) == {"error"}
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_every_api_route_needs_a_key(secured: SecuredServer) -> None:
    """Fail closed: each route of the OpenAPI document answers 401 without a key."""
    base = secured.server.http_url
    spec = httpx.get(base + "/openapi.json", timeout=30).json()
    open_routes = {"/v1/auth/status", "/healthz", "/readyz"}
    checked = 0
    for path, operations in spec["paths"].items():
        if path in open_routes:
            continue
        concrete = (
            path.replace("{trace_id}", "ab" * 16)
            .replace("{run_id}", "ab" * 24)
            .replace("{step_id}", "cd" * 24)
        )
        for method in operations:
            response = httpx.request(method.upper(), base + concrete, json={}, timeout=30)
            assert response.status_code == 401, (method, path, response.text)
            checked += 1
    assert checked >= 14
    for method, path in (("POST", "/v1/traces"), ("GET", "/metrics")):
        assert httpx.request(method, base + path, timeout=30).status_code == 401


def test_scopes_of_the_other_endpoints(secured: SecuredServer) -> None:
    base = secured.server.http_url
    keys = secured.keys
    # REST ingest: ingest and admin keys write, read keys may not.
    body = {"agent_name": "rest-agent"}
    assert (
        httpx.post(base + "/v1/runs", json=body, headers=keys["alpha-read"].bearer()).status_code
        == 403
    )
    created = httpx.post(base + "/v1/runs", json=body, headers=keys["alpha-ingest"].bearer())
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    wait_derived(secured.server.database_url or "")
    assert (
        httpx.get(f"{base}/v1/runs/{run_id}", headers=keys["alpha-read"].bearer()).status_code
        == 200
    )
    assert (
        httpx.get(f"{base}/v1/runs/{run_id}", headers=keys["beta-read"].bearer()).status_code == 404
    )
    # The run's steps and timeline are scoped like the run.
    for suffix in ("/steps", "/timeline"):
        url = f"{base}/v1/runs/{run_id}{suffix}"
        assert httpx.get(url, headers=keys["alpha-read"].bearer()).status_code == 200
        assert httpx.get(url, headers=keys["beta-read"].bearer()).status_code == 404
    # Simulation and /metrics are for admin keys.
    simulate = {"runs": 1, "seed": 11}
    for name, status in (("alpha-ingest", 403), ("alpha-read", 403), ("alpha-admin", 201)):
        response = httpx.post(
            base + "/v1/simulate", json=simulate, headers=keys[name].bearer(), timeout=60
        )
        assert response.status_code == status, (name, response.text)
    for name, status in (("alpha-ingest", 403), ("alpha-read", 403), ("beta-admin", 200)):
        assert httpx.get(base + "/metrics", headers=keys[name].bearer()).status_code == status
    # Price overrides are for admin keys, and each project has its own.
    price = {"model": "auth-ft-*", "input_per_mtok": 1, "output_per_mtok": 2}
    for name in ("alpha-ingest", "alpha-read"):
        headers = keys[name].bearer()
        assert httpx.post(base + "/v1/admin/prices", json=price, headers=headers).status_code == 403
        assert httpx.get(base + "/v1/admin/prices", headers=headers).status_code == 403
    created = httpx.post(
        base + "/v1/admin/prices", json=price, headers=keys["alpha-admin"].bearer()
    )
    assert created.status_code == 201, created.text
    override_id = created.json()["override"]["id"]
    listed = httpx.get(base + "/v1/admin/prices", headers=keys["beta-admin"].bearer())
    assert override_id not in [item["id"] for item in listed.json()["items"]]
    url = f"{base}/v1/admin/prices/{override_id}"
    assert httpx.delete(url, headers=keys["beta-admin"].bearer()).status_code == 404
    assert httpx.delete(url, headers=keys["alpha-admin"].bearer()).status_code == 200
    # Health needs no key.
    assert httpx.get(base + "/healthz").status_code == 200
    assert httpx.get(base + "/readyz").status_code == 200


def test_auth_status_tells_the_viewer_what_to_send(secured: SecuredServer) -> None:
    url = secured.server.http_url + "/v1/auth/status"
    anonymous = httpx.get(url).json()
    assert anonymous["auth_required"] is True
    assert anonymous["key_valid"] is None
    good = httpx.get(url, headers=secured.keys["beta-read"].bearer()).json()
    assert (good["key_valid"], good["project"], good["scope"]) == (True, "beta", "read")
    for headers in (secured.keys["alpha-revoked"].bearer(), {"X-API-Key": "nonsense"}):
        bad = httpx.get(url, headers=headers)
        assert bad.status_code == 200
        assert bad.json()["key_valid"] is False


def test_revoked_key_stops_working_at_once(secured: SecuredServer) -> None:
    key = create_key(secured.database_url, "alpha", "ingest", name="short-lived")
    request, _ = agent_run("revocation-agent")
    base = secured.server.http_url
    assert post_otlp(base, request, key.bearer()).status_code == 200
    assert grpc_export(secured.server.grpc_endpoint, request, key.bearer())[0] == grpc.StatusCode.OK
    revoke_key(secured.database_url, key)
    assert post_otlp(base, request, key.bearer()).status_code == 401
    code, _ = grpc_export(secured.server.grpc_endpoint, request, key.bearer())
    assert code == grpc.StatusCode.UNAUTHENTICATED


def _sdk_spans(count: int) -> list:  # type: ignore[type-arg]
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("security-tests")
    for index in range(count):
        with tracer.start_as_current_span(f"step {index}"):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_sdk_exporters_send_the_key(secured: SecuredServer) -> None:
    """The OpenTelemetry SDK's exporters, configured with headers as users do."""
    key = secured.keys["beta-ingest"]
    base = secured.server.http_url
    spans = _sdk_spans(3)
    http_exporter = HttpSpanExporter(
        endpoint=base + "/v1/traces", headers={"authorization": f"Bearer {key.secret}"}
    )
    grpc_exporter = GrpcSpanExporter(
        endpoint=secured.server.grpc_endpoint, insecure=True, headers={"x-api-key": key.secret}
    )
    try:
        assert http_exporter.export(spans) is SpanExportResult.SUCCESS
        assert grpc_exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        http_exporter.shutdown()
        grpc_exporter.shutdown()
    trace_hex = format(spans[0].context.trace_id, "032x")
    read = secured.keys["beta-read"].bearer()
    stored = httpx.get(f"{base}/v1/traces/{trace_hex}", headers=read, timeout=30)
    assert stored.status_code == 200
    assert len(spans_by_id(stored.json())) == 1
    other = httpx.get(
        f"{base}/v1/traces/{trace_hex}", headers=secured.keys["alpha-read"].bearer(), timeout=30
    )
    assert other.status_code == 404
