"""The ``agentguide simulate`` command: its options, progress lines and end-of-run report.
``agentguide/cli.py`` wires :func:`configure_parser` and :func:`run_from_args`."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from agentguide.simulation.catalogue import DEFAULT_AGENT_NAMES, agent_names
from agentguide.simulation.config import COMPRESSIONS, PROTOCOLS, SimulationConfig
from agentguide.simulation.exporters import (
    DEFAULT_GRPC_ENDPOINT,
    DEFAULT_HTTP_ENDPOINT,
    OTLP_TRACES_PATH,
    agentguide_api_url,
    parse_headers,
    resolve_endpoint,
)
from agentguide.simulation.runner import simulate
from agentguide.simulation.summary import SimulationSummary

__all__ = ["configure_parser", "format_summary", "run_from_args"]


def _argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__.strip("_")
    return convert


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be 1 or more, got {value}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {value}")
    return value


def _agents(text: str) -> tuple[str, ...]:
    if text.strip().isdigit():
        return agent_names(int(text))
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise ValueError("give a number of agents or a comma-separated list of names")
    return names


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``agentguide simulate`` options to ``parser``."""
    parser.add_argument(
        "--runs",
        type=_argument_type(_non_negative_int),
        default=50,
        help="top-level agent runs to generate (default: 50)",
    )
    parser.add_argument(
        "--error-rate",
        type=_argument_type(_probability),
        default=0.1,
        metavar="P",
        help="chance that a tool call fails; runs fail as a whole with P/4 (default: 0.1)",
    )
    parser.add_argument(
        "--agents",
        type=_argument_type(_agents),
        default=agent_names(3),
        metavar="N|NAMES",
        help="number of agents, or comma-separated agent names (default: 3: "
        + ", ".join(agent_names(3))
        + f"; built in: {', '.join(DEFAULT_AGENT_NAMES)})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for reproducible runs, failures and trace ids (default: random, printed)",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="http/protobuf",
        help="OTLP transport (default: http/protobuf)",
    )
    parser.add_argument(
        "--endpoint",
        default=None,
        help=f"OTLP endpoint (default: {DEFAULT_HTTP_ENDPOINT} for http/*, "
        f"{DEFAULT_GRPC_ENDPOINT} for grpc; {OTLP_TRACES_PATH} is added to a bare HTTP URL)",
    )
    parser.add_argument(
        "--headers",
        type=_argument_type(parse_headers),
        default={},
        metavar="K=V,...",
        help="extra export headers, e.g. authorization=Bearer%%20KEY (percent-encoded values)",
    )
    parser.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default="none",
        help="compress export requests (default: none)",
    )
    parser.add_argument(
        "--concurrency",
        type=_argument_type(_positive_int),
        default=4,
        help="parallel exporters (default: 4)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="timeout of one export request (default: 10)",
    )
    parser.add_argument(
        "--api-url",
        default=None,
        help="AgentGuide's HTTP URL for the links in the summary (default: from --endpoint)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument(
        "--quiet", action="store_true", help="print neither progress nor the text summary"
    )


class _ProgressPrinter:
    """Prints at most one line a second, and only once a simulation has run for a second."""

    def __init__(self, total_runs: int, stream: TextIO) -> None:
        self._total = total_runs
        self._stream = stream
        self._started = time.monotonic()
        self._last = self._started
        self._lock = threading.Lock()

    def __call__(self, runs: int, spans: int, delivered: int) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < 1.0:
                return
            self._last = now
        print(
            f"simulate: {runs}/{self._total} runs, {spans} spans generated, {delivered} delivered",
            file=self._stream,
            flush=True,
        )


def _format_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"


def _format_cost(summary: SimulationSummary) -> list[str]:
    cost = "none priced" if summary.cost_usd is None else f"${summary.cost_usd:.6f} expected"
    if summary.unpriced_llm_calls:
        cost += f", {summary.unpriced_llm_calls} LLM calls unpriced (failed: no token counts)"
    lines = [f"  cost:         {cost}"]
    if summary.cost_by_model:
        by_model = ", ".join(f"{name} ${usd:.6f}" for name, usd in summary.cost_by_model.items())
        lines.append(f"  by model:     {by_model}")
    return lines


def format_summary(summary: SimulationSummary, config: SimulationConfig, api_url: str) -> str:
    """The human-readable end-of-run report."""
    lines = [
        f"AgentGuide simulate: seed {summary.seed}, {config.protocol} -> "
        f"{resolve_endpoint(config.protocol, config.endpoint)}",
        f"  runs sent:    {summary.top_level_runs} top-level + {summary.nested_runs} nested "
        f"= {summary.runs} ({_format_counts(summary.runs_by_agent)})",
        f"  runs failed:  {summary.failed_runs} ({summary.failed_top_level_runs} top-level; "
        f"{_format_counts(summary.failed_runs_by_agent)})",
        f"  tool calls:   {summary.tool_calls}, failed {summary.failed_tool_calls}: "
        f"{_format_counts(summary.failures_by_tool)}",
        f"  LLM calls:    {summary.llm_calls}, failed {summary.failed_llm_calls}; tokens "
        f"{summary.input_tokens} in / {summary.output_tokens} out",
        *_format_cost(summary),
        f"  spans sent:   {summary.spans}"
        + (
            f" ({summary.undelivered_spans} NOT delivered)"
            if summary.undelivered_spans
            else " (all delivered)"
            if summary.delivered_spans is not None
            else ""
        ),
        f"  trace ids:    {len(summary.trace_ids)}"
        + (f" (first {summary.trace_ids[0]})" if summary.trace_ids else ""),
        "Where to look:",
        f"  failed runs:  {api_url}/v1/runs?status=FAILED",
        f"  KPIs:         {api_url}/v1/metrics/summary",
        f"  viewer:       {api_url}/",
    ]
    return "\n".join(lines)


def _config_from_args(args: argparse.Namespace) -> SimulationConfig:
    agents = getattr(args, "agents", None) or agent_names(3)
    return SimulationConfig(
        runs=args.runs,
        error_rate=args.error_rate,
        agents=tuple(agents),
        seed=args.seed,
        endpoint=args.endpoint,
        protocol=args.protocol,
        concurrency=args.concurrency,
        headers=dict(getattr(args, "headers", None) or {}),
        compression=getattr(args, "compression", "none"),
        timeout_s=getattr(args, "timeout", 10.0),
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``agentguide simulate``: 0 when every span was delivered, 1 if not, 2 on bad input."""
    try:
        config = _config_from_args(args)
    except ValueError as error:
        print(f"agentguide simulate: {error}", file=sys.stderr)
        return 2
    quiet = bool(getattr(args, "quiet", False))
    progress = None if quiet else _ProgressPrinter(config.runs, sys.stderr)
    try:
        summary = simulate(config, on_progress=progress)
    except KeyboardInterrupt:
        print("agentguide simulate: interrupted", file=sys.stderr)
        return 130
    api_url = (
        getattr(args, "api_url", None) or agentguide_api_url(config.protocol, config.endpoint)
    ).rstrip("/")
    if getattr(args, "json", False):
        print(json.dumps(summary.to_dict(), indent=2))
    elif not quiet:
        print(format_summary(summary, config, api_url))
    if summary.undelivered_spans:
        print(
            f"agentguide simulate: {summary.undelivered_spans} of {summary.spans} spans were "
            f"not delivered to {resolve_endpoint(config.protocol, config.endpoint)}",
            file=sys.stderr,
        )
        return 1
    return 0
