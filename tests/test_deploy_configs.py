"""Deployment files: the compose file, the Dockerfile and the Collector configs.

No Docker engine or Collector runs here. The compose file is validated by Debian's
``docker-compose`` (package ``docker-compose``) when it is installed, and the Collector
configs by ``otelcol-contrib validate`` when that binary is on the PATH; the structural
checks below run everywhere PyYAML is installed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
OTEL_CONFIG = ROOT / "otel-config"
COLLECTOR_CONFIGS = [OTEL_CONFIG / "collector.yaml", OTEL_CONFIG / "gateway-loadbalancing.yaml"]
AGENTGUIDE_GRPC_PORT = 4317
AGENTGUIDE_HTTP_PORT = 4318


@pytest.fixture(scope="module")
def yaml() -> Any:
    return pytest.importorskip(
        "yaml", reason="PyYAML reads the deployment files: install pyyaml (a dev dependency)"
    )


def load_yaml(yaml: Any, path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path.name} is not a YAML mapping"
    return document


# --- docker-compose.yml --------------------------------------------------------------------


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


def test_compose_file_validates_with_docker_compose():
    command = compose_command()
    if command is None:
        pytest.skip("no docker-compose here: `apt-get install docker-compose` (Debian package)")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def host_ports(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port of a service's published ports (short syntax)."""
    published: dict[int, int] = {}
    for entry in service.get("ports", []):
        parts = str(entry).split("/")[0].split(":")
        container, host = int(parts[-1]), int(parts[-2]) if len(parts) > 1 else None
        if host is not None:
            published[container] = host
    return published


def test_compose_wires_postgres_agentguide_and_collector(yaml):
    compose = load_yaml(yaml, COMPOSE_FILE)
    services = compose["services"]
    postgres, agentguide, collector = (
        services["postgres"],
        services["agentguide"],
        services["otel-collector"],
    )

    assert postgres["image"].startswith("pgvector/pgvector:pg")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])

    assert agentguide["build"] == "."
    database_url = urlsplit(agentguide["environment"]["AGENTGUIDE_DATABASE_URL"])
    assert (database_url.scheme, database_url.hostname) == ("postgresql", "postgres")
    assert agentguide["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(agentguide["healthcheck"]["test"])
    agentguide_http = host_ports(agentguide)[AGENTGUIDE_HTTP_PORT]

    image, _, tag = collector["image"].partition(":")
    assert image == "otel/opentelemetry-collector-contrib"
    assert tag and tag != "latest" and tag[0].isdigit(), "pin the Collector's version"
    assert host_ports(collector)[4317] == 4317 and host_ports(collector)[4318] == 4318
    assert agentguide_http not in (4317, 4318), "AgentGuide's HTTP port clashes with the Collector"
    mounts = [str(volume) for volume in collector["volumes"]]
    assert any(m.startswith("./otel-config/collector.yaml:") for m in mounts)

    every_host_port = [port for s in services.values() for port in host_ports(s).values()]
    assert len(every_host_port) == len(set(every_host_port)), "a host port is published twice"


def test_compose_keeps_the_collector_queue_on_a_named_volume(yaml):
    compose = load_yaml(yaml, COMPOSE_FILE)
    collector = compose["services"]["otel-collector"]
    queue_directory = load_yaml(yaml, OTEL_CONFIG / "collector.yaml")["extensions"]["file_storage"][
        "directory"
    ]
    named = {
        str(volume).split(":")[0]
        for volume in collector["volumes"]
        if str(volume).split(":")[1] == queue_directory
    }
    assert len(named) == 1 and named <= set(compose["volumes"]), (
        f"{queue_directory} must be a named volume so queued spans survive the container"
    )
    assert compose["volumes"].keys() >= {"postgres-data"}


# --- Collector configs ---------------------------------------------------------------------


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def collector_config_problems(config: dict[str, Any]) -> list[str]:
    """Why a Collector config would not deliver traces (and logs) durably to AgentGuide ([] if
    fine)."""
    problems: list[str] = []
    extensions = config.get("extensions") or {}
    service = config.get("service") or {}
    enabled_extensions = service.get("extensions") or []
    for extension in enabled_extensions:
        if extension not in extensions:
            problems.append(f"service enables undefined extension {extension!r}")

    def check_queue(owner: str, settings: dict[str, Any]) -> None:
        queue = settings.get("sending_queue") or {}
        storage = queue.get("storage")
        if not queue.get("enabled", True) or not storage:
            problems.append(f"{owner}: sending_queue must be enabled with a storage")
        elif component_type(storage) != "file_storage" or storage not in extensions:
            problems.append(f"{owner}: queue storage {storage!r} is not a defined file_storage")
        elif storage not in enabled_extensions:
            problems.append(f"{owner}: queue storage {storage!r} is not enabled in service")
        retry = settings.get("retry_on_failure") or {}
        if not retry.get("enabled", True):
            problems.append(f"{owner}: retry_on_failure must be enabled")

    pipelines = service.get("pipelines") or {}
    # Traces and logs pipelines must reach AgentGuide durably; metrics must not go there.
    traces_pipelines = {
        name: pipeline
        for name, pipeline in pipelines.items()
        if component_type(name) in ("traces", "logs")
    }
    if not any(component_type(name) == "traces" for name in pipelines):
        problems.append("no traces pipeline")
    for name, pipeline in pipelines.items():
        if component_type(name) == "metrics":
            for exporter_id in pipeline.get("exporters") or []:
                if exporter_id in {e for p in traces_pipelines.values() for e in p["exporters"]}:
                    problems.append(f"pipeline {name}: AgentGuide takes no metrics")
    for name, pipeline in traces_pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind) or []:
                if component not in (config.get(kind) or {}):
                    problems.append(f"pipeline {name}: undefined {kind[:-1]} {component!r}")
        exporters = pipeline.get("exporters") or []
        if not exporters:
            problems.append(f"pipeline {name}: no exporter")
        for exporter_id in exporters:
            settings = (config.get("exporters") or {}).get(exporter_id) or {}
            kind = component_type(exporter_id)
            if kind == "otlp":
                if port_of(settings.get("endpoint", "")) != AGENTGUIDE_GRPC_PORT:
                    problems.append(f"{exporter_id}: endpoint is not AgentGuide's gRPC port")
                if settings.get("compression") != "gzip":
                    problems.append(f"{exporter_id}: compression is not gzip")
                check_queue(exporter_id, settings)
            elif kind == "loadbalancing":
                if settings.get("routing_key") != "traceID":
                    problems.append(f"{exporter_id}: routing_key is not traceID")
                template = (settings.get("protocol") or {}).get("otlp")
                if template is None or "endpoint" in template:
                    problems.append(
                        f"{exporter_id}: protocol.otlp must be an endpoint-less template"
                    )
                resolver = settings.get("resolver") or {}
                if len(resolver) != 1:
                    # 0.128 refuses to start: "only one resolver should be specified".
                    problems.append(f"{exporter_id}: give exactly one resolver, not {resolver}")
                targets = [*((resolver.get("static") or {}).get("hostnames") or [])]
                if "dns" in resolver:
                    targets.append(
                        f"{resolver['dns']['hostname']}:{resolver['dns'].get('port', 4317)}"
                    )
                if not targets:
                    problems.append(f"{exporter_id}: no receivers to balance across")
                for target in targets:
                    if port_of(target) != AGENTGUIDE_GRPC_PORT:
                        problems.append(f"{exporter_id}: {target} is not an AgentGuide gRPC port")
                check_queue(exporter_id, settings)
            else:
                problems.append(f"{exporter_id}: {name} leave through a non-OTLP exporter")
    return problems


@pytest.mark.parametrize("path", COLLECTOR_CONFIGS, ids=lambda p: p.name)
def test_collector_config_routes_traces_durably_to_agentguide(yaml, path):
    config = load_yaml(yaml, path)
    assert collector_config_problems(config) == []
    grpc = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    http = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert (grpc, http) == ("0.0.0.0:4317", "0.0.0.0:4318"), "receive OTLP on the standard ports"


def test_compose_collector_sends_logs_to_agentguide_too(yaml):
    config = load_yaml(yaml, OTEL_CONFIG / "collector.yaml")
    pipelines = config["service"]["pipelines"]
    assert pipelines["logs"]["exporters"] == pipelines["traces"]["exporters"]
    assert pipelines["logs"]["receivers"] == ["otlp"]
    assert not any(component_type(name) == "metrics" for name in pipelines)


def test_compose_collector_forwards_to_the_agentguide_service(yaml):
    config = load_yaml(yaml, OTEL_CONFIG / "collector.yaml")
    services = load_yaml(yaml, COMPOSE_FILE)["services"]
    (otlp,) = [v for k, v in config["exporters"].items() if component_type(k) == "otlp"]
    host = otlp["endpoint"].rsplit(":", 1)[0]
    assert host in services and services[host].get("build") == "."


def test_gateway_routes_by_trace_id(yaml):
    config = load_yaml(yaml, OTEL_CONFIG / "gateway-loadbalancing.yaml")
    (balancer,) = [v for k, v in config["exporters"].items() if k.startswith("loadbalancing")]
    assert balancer["routing_key"] == "traceID"
    assert len(balancer["resolver"]["static"]["hostnames"]) > 1


def exporter(config: dict[str, Any]) -> dict[str, Any]:
    return config["exporters"]["otlp/agentguide"]


BREAKAGES = {
    "queue storage not enabled": (
        lambda c: c["service"]["extensions"].remove("file_storage"),
        "not enabled in service",
    ),
    "queue storage undefined": (
        lambda c: c["extensions"].pop("file_storage"),
        "not a defined file_storage",
    ),
    "HTTP port": (lambda c: exporter(c).update(endpoint="agentguide:4318"), "gRPC port"),
    "no queue": (lambda c: exporter(c).pop("sending_queue"), "sending_queue"),
    "no retry": (
        lambda c: exporter(c)["retry_on_failure"].update(enabled=False),
        "retry_on_failure",
    ),
    "no gzip": (lambda c: exporter(c).pop("compression"), "gzip"),
    "undefined exporter": (
        lambda c: c["service"]["pipelines"]["traces"]["exporters"].append("debug"),
        "undefined exporter",
    ),
    "logs exporter undefined": (
        lambda c: c["service"]["pipelines"]["logs"]["exporters"].append("debug"),
        "pipeline logs: undefined exporter",
    ),
    "metrics to AgentGuide": (
        lambda c: c["service"]["pipelines"].update(
            metrics={"receivers": ["otlp"], "exporters": ["otlp/agentguide"]}
        ),
        "takes no metrics",
    ),
    "undefined extension": (
        lambda c: c["service"]["extensions"].append("pprof"),
        "undefined extension",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_config_check_catches_broken_configs(yaml, breakage):
    config = load_yaml(yaml, OTEL_CONFIG / "collector.yaml")
    break_config, complaint = BREAKAGES[breakage]
    break_config(config)
    assert any(complaint in problem for problem in collector_config_problems(config))


def test_the_config_check_catches_a_broken_gateway(yaml):
    config = load_yaml(yaml, OTEL_CONFIG / "gateway-loadbalancing.yaml")
    balancer = config["exporters"]["loadbalancing/agentguide"]
    balancer["routing_key"] = "service"
    balancer["resolver"]["static"]["hostnames"].append("agentguide-4:4318")
    balancer["resolver"]["dns"] = {"hostname": "agentguide", "port": 4317}
    problems = collector_config_problems(config)
    assert any("routing_key" in p for p in problems)
    assert any("agentguide-4:4318" in p for p in problems)
    assert any("exactly one resolver" in p for p in problems)


@pytest.mark.parametrize("path", COLLECTOR_CONFIGS, ids=lambda p: p.name)
def test_collector_binary_accepts_the_config(path):
    binary = shutil.which("otelcol-contrib")
    if binary is None:
        pytest.skip("no otelcol-contrib binary here (PyPI, npm and Debian ship none)")
    result = subprocess.run(
        [binary, "validate", f"--config={path}"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# --- SDK environment -----------------------------------------------------------------------


def test_sdk_env_points_an_sdk_at_agentguide():
    variables = {}
    for line in (OTEL_CONFIG / "sdk.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            variables[key.strip()] = value.strip()
    assert variables.keys() >= {
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_SERVICE_NAME",
    }
    endpoint = urlsplit(variables["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.scheme == "http" and endpoint.port == AGENTGUIDE_HTTP_PORT
    assert endpoint.path in ("", "/"), "the SDK appends /v1/traces itself"
    assert variables["OTEL_EXPORTER_OTLP_PROTOCOL"] in ("grpc", "http/protobuf", "http/json")


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def test_dockerfile_builds_a_wheel_then_runs_slim_and_unprivileged():
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    stages = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    assert len(stages) >= 2, "multi-stage: build, then runtime"
    assert any("pip wheel" in a for k, a in instructions if k == "RUN")
    arg_defaults = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    runtime_base = (
        stages[-1].split()[0].replace("${PYTHON_IMAGE}", arg_defaults.get("PYTHON_IMAGE", ""))
    )
    assert runtime_base.startswith("python:3.11") and "slim" in runtime_base

    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    runtime = instructions[last_from:]
    users = [a for k, a in runtime if k == "USER"]
    assert users and users[-1] not in ("root", "0"), "the runtime runs as a non-root user"

    (healthcheck,) = [a for k, a in runtime if k == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "4318" in healthcheck and "urllib" in healthcheck
    exposed = {int(p) for k, a in runtime if k == "EXPOSE" for p in a.split()}
    assert exposed == {AGENTGUIDE_GRPC_PORT, AGENTGUIDE_HTTP_PORT}
    (command,) = [a for k, a in runtime if k == "CMD"]
    assert " ".join(shlex.split(command.strip("[]").replace(",", " "))).startswith(
        "agentguide serve --host 0.0.0.0"
    )


def test_dockerfile_copies_every_package_the_project_ships():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    top_level = {name.split(".")[0] for name in project["tool"]["setuptools"]["packages"]}
    copied = {
        Path(arguments.split()[0]).name
        for keyword, arguments in dockerfile_instructions(DOCKERFILE.read_text())
        if keyword == "COPY" and not arguments.startswith("--from")
    }
    assert top_level <= copied, f"not copied into the build stage: {top_level - copied}"
    assert project["project"]["readme"] in copied or "README.md" in DOCKERFILE.read_text()
    for package in top_level:
        assert (ROOT / package).is_dir()


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests"} <= ignored
    for needed in ("pyproject.toml", "README.md", "agentguide", "storage"):
        assert needed not in ignored
