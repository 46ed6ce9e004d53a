"""Record one scenario of one framework into ``tests/fixtures/<framework>/<scenario>/``.

    python -m tests.fakes.capture FRAMEWORK SCENARIO [options] [-- COMMAND ...]

Starts the fake OpenAI server and the OTLP capture server on free ports, runs COMMAND
(default: ``/tmp/capture-venvs/FRAMEWORK/bin/python tests/fixtures/FRAMEWORK/capture.py
SCENARIO``) with the standard environment pointing at them, waits until the exports have
stopped arriving, then replaces the scenario's old bodies (never its expected.json) and writes
the framework's ``versions.json``. See tests/fakes/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fakes.capture_server import CapturedRequest, CaptureServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.otlp_bodies import decode
from tests.fakes.scrub import scrub_body

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
VENVS = Path("/tmp/capture-venvs")
_CAPTURED_FILE = re.compile(r"^\d{4}\.")
_VERSION_PREFIXES = ("opentelemetry-", "openinference-")

_PYTHON_FACTS = """
import json, sys, sysconfig
from importlib import metadata
names = json.loads(sys.argv[1])
found = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name is None:
        continue
    key = name.lower().replace("_", "-")
    if key in names or key.startswith(tuple(json.loads(sys.argv[2]))):
        found[key] = dist.version
paths = sysconfig.get_paths()
print(json.dumps({"versions": found, "python": sys.version.split()[0],
                  "purelib": paths["purelib"], "stdlib": paths["stdlib"],
                  "prefix": sys.prefix}))
"""


def capture_environment(openai: FakeOpenAIServer, otlp: CaptureServer, args: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "OPENAI_BASE_URL": openai.base_url,
            "OPENAI_API_BASE": openai.base_url,
            "OPENAI_API_KEY": "sk-fake",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{otlp.endpoint}/v1/traces",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"{otlp.endpoint}/v1/logs",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{otlp.endpoint}/v1/metrics",
            "OTEL_EXPORTER_OTLP_PROTOCOL": args.otlp_protocol,
            "OTEL_SERVICE_NAME": f"{args.framework}-capture",
            "CAPTURE_SCENARIO": args.scenario,
            # frameworks' own phone-home and hub look-ups, which have no network here
            "CREWAI_DISABLE_TELEMETRY": "true",
            "CREWAI_DISABLE_TRACKING": "true",
            "CREWAI_TRACING_ENABLED": "false",
            "OTEL_SDK_DISABLED": "false",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "ANONYMIZED_TELEMETRY": "false",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for pair in args.env:
        key, _, value = pair.partition("=")
        env[key] = value
    return env


def _requirement_names(framework_dir: Path) -> list[str]:
    path = framework_dir / "requirements.txt"
    if not path.exists():
        return []
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0]
            names.append(name.lower().replace("_", "-"))
    return names


def python_facts(python: str, framework_dir: Path) -> dict[str, Any]:
    names = _requirement_names(framework_dir)
    output = subprocess.run(
        [python, "-c", _PYTHON_FACTS, json.dumps(names), json.dumps(_VERSION_PREFIXES)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    facts: dict[str, Any] = json.loads(output)
    ordered = {n: facts["versions"][n] for n in names if n in facts["versions"]}
    ordered.update(sorted((k, v) for k, v in facts["versions"].items() if k not in ordered))
    ordered["python"] = facts["python"]
    facts["versions"] = ordered
    return facts


def scrub_roots(facts: dict[str, Any] | None, extra: list[str]) -> list[tuple[str, str]]:
    roots = [(str(REPO_ROOT) + "/", "")]
    if facts:
        roots += [
            (facts["purelib"] + "/", "site-packages/"),
            (facts["stdlib"] + "/", Path(facts["stdlib"]).name + "/"),
            (facts["prefix"] + "/", "venv/"),
        ]
    for item in extra:
        root, _, replacement = item.partition("=")
        roots.append((root.rstrip("/") + "/", replacement))
    return roots


def write_scenario(
    captured: list[CapturedRequest], directory: Path, roots: list[tuple[str, str]]
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        if _CAPTURED_FILE.match(old.name):
            old.unlink()
    counts: dict[str, int] = {}
    for request in captured:
        if request.signal not in ("traces", "logs"):
            continue
        scrubbed = scrub_body(
            request.signal,
            request.body,
            request.meta["content_type"],
            request.meta["content_encoding"],
            roots,
        )
        if scrubbed is not None:
            request = CapturedRequest(
                request.signal,
                scrubbed,
                {**request.meta, "body_length": len(scrubbed), "scrubbed_paths": True},
                decode(
                    request.signal,
                    scrubbed,
                    request.meta["content_type"],
                    request.meta["content_encoding"],
                ),
            )
        counts[request.signal] = counts.get(request.signal, 0) + 1
        request.write(directory, counts[request.signal])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("framework")
    parser.add_argument("scenario")
    parser.add_argument("--fixtures-dir", type=Path, default=FIXTURES)
    parser.add_argument(
        "--python", help="the interpreter the framework runs in (default: its capture venv)"
    )
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--otlp-protocol", default="http/protobuf")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--quiet-seconds", type=float, default=2.0)
    parser.add_argument(
        "--scrub-root",
        action="append",
        default=[],
        metavar="PATH[=REPLACEMENT]",
        help="another absolute path prefix to make relative in captured bodies",
    )
    parser.add_argument(
        "--versions-from",
        type=Path,
        help="a JSON file of package versions to write as versions.json (non-Python runs)",
    )
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    framework_dir = args.fixtures_dir / args.framework
    python = args.python
    if python is None and not command:
        python = str(VENVS / args.framework / "bin" / "python")
    if not command:
        script = (framework_dir / "capture.py").relative_to(REPO_ROOT)
        command = [str(python), str(script), args.scenario]
    if python is None and Path(command[0]).name.startswith("python"):
        python = command[0]

    facts = python_facts(python, framework_dir) if python else None
    with FakeOpenAIServer() as openai, CaptureServer() as otlp:
        env = capture_environment(openai, otlp, args)
        print(f"$ {' '.join(command)}", file=sys.stderr)
        result = subprocess.run(command, env=env, cwd=REPO_ROOT, timeout=args.timeout)
        otlp.wait_quiet(args.quiet_seconds)
        captured = otlp.captured()
    traces = [r for r in captured if r.signal == "traces"]
    print(
        f"exit {result.returncode}; {len(openai.requests)} model requests; "
        f"{len(traces)} traces requests, {len(captured) - len(traces)} other",
        file=sys.stderr,
    )
    if not traces:
        print("nothing was exported; the scenario is left as it was", file=sys.stderr)
        return 1
    write_scenario(captured, framework_dir / args.scenario, scrub_roots(facts, args.scrub_root))
    versions = facts["versions"] if facts else None
    if args.versions_from:
        versions = json.loads(args.versions_from.read_text())
    if versions:
        (framework_dir / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
