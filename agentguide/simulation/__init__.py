"""Generate realistic AI-agent traces with the OpenTelemetry SDK and export them over OTLP.

``agentguide simulate`` builds agent runs out of real SDK spans (``TracerProvider``,
``BatchSpanProcessor``, the SDK's OTLP exporters or :class:`OTLPJSONSpanExporter`) and sends
them to any OTLP endpoint, so the whole ingest path is exercised exactly as an instrumented
agent would exercise it. :func:`generate_into` is the generator alone: it writes spans into
any tracer provider and knows nothing about exporters; :func:`generate_spans` collects them
in memory (the server's ``POST /v1/simulate`` runs it against itself).

The modules, one job each:

- ``config``: :class:`SimulationConfig`, what to generate and where to send it.
- ``payloads`` and ``catalogue``: the agents, their tools, tool arguments and results.
- ``planner``: one run drawn as plain data from a seeded generator, failures included.
- ``ids`` and ``emitter``: the plan becomes SDK spans with seeded, reproducible ids.
- ``generator``: :func:`generate_into`, runs one after the other into a tracer provider.
- ``costs``: the cost expected for each model call sent, priced by ``mapping.pricing``.
- ``summary``: :class:`SimulationSummary`, what was generated, run by run, and its cost.
- ``otlp_json`` and ``exporters``: OTLP/JSON, endpoints, and an exporter per protocol.
- ``runner``: :func:`simulate` (worker threads, delivery tally, progress callback) and
  :func:`generate_spans`.
- ``cli``: the ``agentguide simulate`` options and report.
"""

from __future__ import annotations

from agentguide.simulation.catalogue import DEFAULT_AGENT_NAMES, agent_names
from agentguide.simulation.cli import configure_parser, format_summary, run_from_args
from agentguide.simulation.config import PROTOCOLS, Protocol, SimulationConfig
from agentguide.simulation.exporters import (
    agentguide_api_url,
    build_span_exporter,
    parse_headers,
    resolve_endpoint,
)
from agentguide.simulation.generator import generate_into
from agentguide.simulation.ids import RunSeededIdGenerator
from agentguide.simulation.otlp_json import (
    OTLPJSONSpanExporter,
    export_request_to_otlp_json,
    parse_retry_after,
)
from agentguide.simulation.runner import build_tracer_provider, generate_spans, simulate
from agentguide.simulation.summary import RunRecord, SimulationSummary, ToolCallRecord

__all__ = [
    "DEFAULT_AGENT_NAMES",
    "PROTOCOLS",
    "OTLPJSONSpanExporter",
    "Protocol",
    "RunRecord",
    "RunSeededIdGenerator",
    "SimulationConfig",
    "SimulationSummary",
    "ToolCallRecord",
    "agent_names",
    "agentguide_api_url",
    "build_span_exporter",
    "build_tracer_provider",
    "configure_parser",
    "export_request_to_otlp_json",
    "format_summary",
    "generate_into",
    "generate_spans",
    "parse_headers",
    "parse_retry_after",
    "resolve_endpoint",
    "run_from_args",
    "simulate",
]
