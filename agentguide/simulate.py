"""Generate realistic AI-agent traces with the OpenTelemetry SDK and export them over OTLP.

``agentguide simulate`` builds agent runs out of real SDK spans (``TracerProvider``,
``BatchSpanProcessor``, the SDK's OTLP exporters or :class:`OTLPJSONSpanExporter`) and sends
them to any OTLP endpoint, so the whole ingest path is exercised exactly as an instrumented
agent would exercise it. :func:`generate_into` is the generator alone: it writes spans into
any tracer provider (the server runs it against itself) and knows nothing about exporters.

What a run looks like (OpenTelemetry GenAI semantic conventions)::

    invoke_agent {agent}            gen_ai.operation.name=invoke_agent, the run
      chat {model}                  gen_ai.operation.name=chat, one model call
      execute_tool {tool}           gen_ai.operation.name=execute_tool, one tool call
      execute_tool ask_{sub_agent}  some runs delegate through a tool ...
        invoke_agent {sub-agent}    ... to a nested run
      invoke_agent {sub-agent}      ... or hand off directly under the parent run
      chat {model}                  the final answer

Times are back-dated with explicit nanosecond timestamps (nothing sleeps): every
top-level run lasts 0.5-20 s and ends within ``time_window_s`` before the anchor time.

Failure accounting, exactly as :class:`SimulationSummary` reports it:

- A **run** is one ``invoke_agent`` span, top-level or nested. A run *fails* when its
  agent span ends with status ERROR (it then also carries ``error.type`` and an
  ``exception`` event). Nothing else makes a run fail.
- A **tool call** is one ``execute_tool`` span. It *fails* when its span ends with status
  ERROR (plus ``error.type`` and an ``exception`` event). ``failures_by_tool`` counts
  failed tool-call spans by ``gen_ai.tool.name``.
- An **LLM call** is one ``chat`` span; it fails the same way.

How failures are drawn, for ``error_rate`` p: every ordinary tool call fails with
probability p; after a failed tool call the agent gives up with probability 1/2 (the run
fails with the tool's ``error.type``), otherwise the model sees the error and carries on.
Independently, each run fails as a whole with probability p/4: a model call fails
(``RateLimitError`` / ``APITimeoutError`` on the chat span and the run) or the agent runs
out of turns (``MaxTurnsExceeded``, on the agent span only). A delegating tool call
fails exactly when the nested run under it fails; a failed nested run, through a tool or
not, makes its parent give up with probability 1/2, like a failed tool. Nested runs are
drawn only among the *other* configured agents, so a single agent never delegates.

Determinism: the same seed and configuration give the same runs, span names, attributes,
failures and relative times, whatever the concurrency. With :class:`RunSeededIdGenerator`
in the tracer provider (the simulator's own providers use it) trace and span ids repeat
too; with ``anchor_time_ns`` fixed, so do absolute times.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import hashlib
import itertools
import json
import logging
import math
import random
import secrets
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TextIO, get_args

import requests
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

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
    "parse_headers",
    "parse_retry_after",
    "resolve_endpoint",
    "run_from_args",
    "simulate",
]

_logger = logging.getLogger(__name__)

Protocol = Literal["grpc", "http/protobuf", "http/json"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
Compression = Literal["none", "gzip"]

INSTRUMENTATION_SCOPE = "agentguide.simulate"
SERVICE_NAME = "agentguide-simulate"
DEFAULT_HTTP_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_GRPC_ENDPOINT = "http://127.0.0.1:4317"
OTLP_TRACES_PATH = "/v1/traces"

MIN_RUN_DURATION_NS = 500_000_000
MAX_RUN_DURATION_NS = 20_000_000_000
# Share of error_rate with which a run fails as a whole (model error or turn limit).
WHOLE_RUN_FAILURE_SHARE = 0.25
# Chance that an agent gives up after one of its tool calls or nested runs failed.
GIVE_UP_AFTER_FAILURE = 0.5
# Chat spans carry roughly 0.2-2 KB of messages: older turns drop out of the prompt.
_PROMPT_BUDGET_CHARS = 1800


# --------------------------------------------------------------------------------------
# Configuration and results


@dataclass(frozen=True)
class SimulationConfig:
    """What to generate and where to send it. Export fields are ignored by generate_into."""

    runs: int = 50
    error_rate: float = 0.1
    agents: tuple[str, ...] = ("weather-agent", "research-agent", "billing-agent")
    seed: int | None = None
    # Runs end at most time_window_s before this instant (default: when generation starts).
    anchor_time_ns: int | None = None
    time_window_s: float = 3600.0
    endpoint: str | None = None
    protocol: Protocol = "http/protobuf"
    concurrency: int = 4
    headers: Mapping[str, str] = field(default_factory=dict)
    compression: Compression = "none"
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.runs < 0:
            raise ValueError(f"runs must be 0 or more, got {self.runs}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate}")
        if not self.agents or any(not name.strip() for name in self.agents):
            raise ValueError("agents must name at least one agent, and no empty names")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, got {self.concurrency}")
        if self.compression not in get_args(Compression):
            raise ValueError("compression must be 'none' or 'gzip'")
        if self.time_window_s <= MAX_RUN_DURATION_NS / 1e9:
            raise ValueError("time_window_s must be longer than the longest run (20 s)")


@dataclass(frozen=True)
class ToolCallRecord:
    """One execute_tool span of a run."""

    tool_name: str
    call_id: str
    span_id: str
    failed: bool
    error_type: str | None


@dataclass(frozen=True)
class RunRecord:
    """One invoke_agent span, i.e. one run, with the steps that belong to it directly."""

    index: int  # number of the top-level run this run belongs to
    trace_id: str
    span_id: str
    parent_run_span_id: str | None  # the enclosing run's agent span, for nested runs
    agent_name: str
    failed: bool
    error_type: str | None
    error_message: str | None
    failure_cause: str | None  # "tool", "sub_agent", "llm" or "max_turns"
    start_time_unix_nano: int
    end_time_unix_nano: int
    tool_calls: tuple[ToolCallRecord, ...]
    llm_calls: int
    failed_llm_calls: int
    input_tokens: int
    output_tokens: int

    @property
    def nested(self) -> bool:
        return self.parent_run_span_id is not None

    @property
    def duration_ns(self) -> int:
        return self.end_time_unix_nano - self.start_time_unix_nano


@dataclass(frozen=True)
class SimulationSummary:
    """Everything that was generated; the counts are derived from ``run_records``."""

    seed: int
    runs: int
    top_level_runs: int
    nested_runs: int
    failed_runs: int
    failed_top_level_runs: int
    spans: int
    tool_calls: int
    failed_tool_calls: int
    llm_calls: int
    failed_llm_calls: int
    input_tokens: int
    output_tokens: int
    runs_by_agent: dict[str, int]
    failed_runs_by_agent: dict[str, int]
    tool_calls_by_tool: dict[str, int]
    failures_by_tool: dict[str, int]
    trace_ids: list[str]
    run_records: list[RunRecord]
    # Filled in by simulate(): spans the exporters confirmed, and those they did not.
    delivered_spans: int | None = None
    undelivered_spans: int | None = None

    @classmethod
    def from_records(
        cls, records: Iterable[RunRecord], *, seed: int, spans: int
    ) -> SimulationSummary:
        ordered = sorted(records, key=lambda r: (r.index, r.start_time_unix_nano, r.nested))
        tool_calls = [call for record in ordered for call in record.tool_calls]
        failed_records = [record for record in ordered if record.failed]
        return cls(
            seed=seed,
            runs=len(ordered),
            top_level_runs=sum(1 for r in ordered if not r.nested),
            nested_runs=sum(1 for r in ordered if r.nested),
            failed_runs=len(failed_records),
            failed_top_level_runs=sum(1 for r in failed_records if not r.nested),
            spans=spans,
            tool_calls=len(tool_calls),
            failed_tool_calls=sum(1 for call in tool_calls if call.failed),
            llm_calls=sum(r.llm_calls for r in ordered),
            failed_llm_calls=sum(r.failed_llm_calls for r in ordered),
            input_tokens=sum(r.input_tokens for r in ordered),
            output_tokens=sum(r.output_tokens for r in ordered),
            runs_by_agent=_sorted_counts(r.agent_name for r in ordered),
            failed_runs_by_agent=_sorted_counts(r.agent_name for r in failed_records),
            tool_calls_by_tool=_sorted_counts(call.tool_name for call in tool_calls),
            failures_by_tool=_sorted_counts(call.tool_name for call in tool_calls if call.failed),
            trace_ids=list(dict.fromkeys(r.trace_id for r in ordered if not r.nested)),
            run_records=ordered,
        )

    @classmethod
    def combine(cls, summaries: Sequence[SimulationSummary]) -> SimulationSummary:
        """Merge the summaries of disjoint sets of runs generated with one seed."""
        seeds = {summary.seed for summary in summaries}
        if len(seeds) > 1:
            raise ValueError(f"cannot combine summaries of different seeds: {sorted(seeds)}")
        return cls.from_records(
            (record for summary in summaries for record in summary.run_records),
            seed=seeds.pop() if seeds else 0,
            spans=sum(summary.spans for summary in summaries),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sorted_counts(names: Iterable[str]) -> dict[str, int]:
    counts = Counter(names)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# --------------------------------------------------------------------------------------
# The agents: who they are, which tools they call, and how those tools fail

ToolCallFactory = Callable[[random.Random], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class _ToolProfile:
    name: str
    description: str
    make_call: ToolCallFactory  # draws (arguments, result)
    failures: tuple[tuple[str, str], ...]  # (error.type, message)
    latency_s: tuple[float, float]
    source_file: str


@dataclass(frozen=True)
class _AgentProfile:
    name: str
    description: str
    provider: str
    request_model: str
    response_model: str
    server_address: str
    instructions: str
    tools: tuple[_ToolProfile, ...]
    requests: tuple[str, ...]  # user requests, formatted with _pick_subject()
    delegation_rate: float = 0.2
    max_rounds: int = 3

    @property
    def agent_id(self) -> str:
        return "agt_" + hashlib.sha256(self.name.encode()).hexdigest()[:20]


_CITIES = ("Paris", "Lisbon", "Oslo", "Nairobi", "Osaka", "Lima", "Montreal", "Hanoi")
_TOPICS = (
    "vector databases",
    "solid-state batteries",
    "OpenTelemetry sampling",
    "carbon capture costs",
    "RISC-V adoption",
    "urban heat islands",
)
_PROSE = (
    "The figures come from the most recent data available at the time of the request.",
    "Values are rounded to one decimal place for readability.",
    "Some sources disagree slightly, so the range rather than a single number is shown.",
    "The service cached this answer for five minutes to avoid repeated lookups.",
    "No personal data was needed to answer this request.",
    "The underlying records were last reconciled during the nightly batch.",
    "If you need the raw numbers, ask for the detailed breakdown.",
    "Forecasts beyond three days carry noticeably more uncertainty.",
    "Everything shown here is consistent with the account's current settings.",
    "Several of the sources were published within the last quarter.",
    "A follow-up check found no conflicting entries for the same period.",
    "Units follow the customer's locale unless they asked otherwise.",
)


def _prose(rng: random.Random, min_chars: int, max_chars: int) -> str:
    target = rng.randint(min_chars, max_chars)
    sentences: list[str] = []
    while sum(len(s) + 1 for s in sentences) < target:
        sentences.append(rng.choice(_PROSE))
    return " ".join(sentences)


def _ident(rng: random.Random, prefix: str, length: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def _weather_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    city = rng.choice(_CITIES)
    result = {
        "city": city,
        "temperature_c": round(rng.uniform(-8, 36), 1),
        "conditions": rng.choice(("sunny", "overcast", "light rain", "snow showers", "windy")),
        "humidity_pct": rng.randint(20, 95),
        "notes": _prose(rng, 80, 400),
    }
    return {"city": city}, result


def _forecast_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    city, days = rng.choice(_CITIES), rng.randint(2, 5)
    daily = [
        {"day": day + 1, "high_c": round(rng.uniform(0, 35), 1), "rain_pct": rng.randint(0, 90)}
        for day in range(days)
    ]
    return {"city": city, "days": days}, {"city": city, "daily": daily}


def _convert_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    celsius = round(rng.uniform(-10, 38), 1)
    return {"value": celsius, "from": "C", "to": "F"}, {"value": round(celsius * 9 / 5 + 32, 1)}


def _search_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    topic = rng.choice(_TOPICS)
    hits = [
        {
            "title": f"{topic.title()}: notes {n + 1}",
            "url": f"https://example.org/{topic.replace(' ', '-')}/{rng.randint(100, 999)}",
            "snippet": _prose(rng, 60, 200),
        }
        for n in range(rng.randint(2, 4))
    ]
    return {"query": topic, "max_results": 5}, {"results": hits}


def _fetch_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    url = f"https://example.org/{rng.choice(_TOPICS).replace(' ', '-')}/{rng.randint(100, 999)}"
    return {"url": url}, {"status": 200, "text": _prose(rng, 200, 700)}


def _citations_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    count = rng.randint(1, 4)
    return (
        {"document_id": _ident(rng, "doc_", 10)},
        {"citations": [f"[{n + 1}] example.org, {rng.randint(2019, 2025)}" for n in range(count)]},
    )


def _customer_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    customer_id = f"cus_{rng.randint(10000, 99999)}"
    return {"customer_id": customer_id}, {
        "customer_id": customer_id,
        "plan": rng.choice(("starter", "team", "enterprise")),
        "balance_eur": round(rng.uniform(0, 900), 2),
        "notes": _prose(rng, 60, 300),
    }


def _invoice_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    invoice_id = f"INV-{rng.randint(2024000, 2025999)}"
    return {"invoice_id": invoice_id}, {
        "invoice_id": invoice_id,
        "amount_eur": round(rng.uniform(19, 2400), 2),
        "status": rng.choice(("paid", "open", "overdue")),
        "lines": rng.randint(1, 12),
    }


def _refund_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    amount = round(rng.uniform(5, 480), 2)
    invoice_id = f"INV-{rng.randint(2024000, 2025999)}"
    return {"invoice_id": invoice_id, "amount_eur": amount}, {
        "refund_id": _ident(rng, "re_", 14),
        "amount_eur": amount,
        "state": "submitted",
    }


def _kb_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    subject = rng.choice(("password reset", "invoice copy", "SSO setup", "data export"))
    return {"query": subject}, {
        "articles": [{"id": f"KB-{rng.randint(100, 999)}", "excerpt": _prose(rng, 80, 300)}]
    }


def _ticket_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    priority = rng.choice(("low", "normal", "high"))
    return {"summary": _prose(rng, 40, 120), "priority": priority}, {
        "ticket_id": f"SUP-{rng.randint(1000, 9999)}",
        "priority": priority,
    }


def _flights_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    origin, destination = rng.sample(_CITIES, 2)
    offers = [
        {
            "flight": _ident(rng, "", 2).upper() + str(rng.randint(100, 999)),
            "eur": rng.randint(60, 900),
        }
        for _ in range(rng.randint(1, 4))
    ]
    return {"origin": origin, "destination": destination, "date": "2025-06-14"}, {"offers": offers}


def _hotel_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    city, nights = rng.choice(_CITIES), rng.randint(1, 6)
    return {"city": city, "nights": nights}, {
        "booking_id": _ident(rng, "bk_", 10),
        "total_eur": nights * rng.randint(70, 260),
    }


def _docs_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"query": rng.choice(_TOPICS)}, {"passages": [_prose(rng, 100, 500)]}


def _sql_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    table = rng.choice(("orders", "sessions", "events"))
    return {"query": f"select count(*) from {table} where created_at > now() - interval '1 day'"}, {
        "rows": [[rng.randint(0, 50000)]]
    }


def _email_call(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"to": f"user{rng.randint(1, 999)}@example.com", "subject": "Your request"}, {
        "message_id": _ident(rng, "msg_", 16)
    }


def _tool(
    name: str,
    description: str,
    make_call: ToolCallFactory,
    failures: tuple[tuple[str, str], ...],
    latency_s: tuple[float, float],
    source_file: str,
) -> _ToolProfile:
    return _ToolProfile(name, description, make_call, failures, latency_s, source_file)


_TIMEOUT = ("TimeoutError", "upstream did not answer within 5 s")
_BUILTIN_AGENTS: tuple[_AgentProfile, ...] = (
    _AgentProfile(
        name="weather-agent",
        description="Answers weather questions with live data",
        provider="openai",
        request_model="gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        server_address="api.openai.com",
        instructions="You are a weather assistant. Use the tools; never guess a temperature.",
        tools=(
            _tool(
                "get_weather",
                "Current weather for a city",
                _weather_call,
                (_TIMEOUT, ("ConnectionError", "weather API refused the connection")),
                (0.08, 1.2),
                "agents/weather/tools.py",
            ),
            _tool(
                "get_forecast",
                "Daily forecast for a city",
                _forecast_call,
                (("ValueError", "forecast horizon must be between 1 and 5 days"), _TIMEOUT),
                (0.1, 1.5),
                "agents/weather/tools.py",
            ),
            _tool(
                "convert_units",
                "Convert a temperature between units",
                _convert_call,
                (("RuntimeError", "unit service unavailable"),),
                (0.01, 0.2),
                "agents/weather/units.py",
            ),
        ),
        requests=(
            "What's the weather in {city} right now?",
            "Will it rain in {city} over the next few days?",
            "How warm is it in {city}, in Fahrenheit please?",
        ),
    ),
    _AgentProfile(
        name="research-agent",
        description="Searches the web and writes short cited briefs",
        provider="anthropic",
        request_model="claude-sonnet-4-5",
        response_model="claude-sonnet-4-5-20250929",
        server_address="api.anthropic.com",
        instructions="You research topics. Cite every source you use.",
        tools=(
            _tool(
                "web_search",
                "Search the web",
                _search_call,
                (("ConnectionError", "search backend refused the connection"), _TIMEOUT),
                (0.3, 2.0),
                "agents/research/search.py",
            ),
            _tool(
                "fetch_page",
                "Fetch a web page as text",
                _fetch_call,
                (
                    ("HTTPError", "403 Client Error: Forbidden for url"),
                    ("UnicodeDecodeError", "page is not valid UTF-8"),
                ),
                (0.2, 2.5),
                "agents/research/fetch.py",
            ),
            _tool(
                "extract_citations",
                "Extract citations from a document",
                _citations_call,
                (("KeyError", "document not in cache"),),
                (0.05, 0.4),
                "agents/research/citations.py",
            ),
        ),
        requests=(
            "Give me a short brief on {topic} with sources.",
            "What changed recently in {topic}?",
            "Compare the main arguments around {topic}.",
        ),
        max_rounds=4,
    ),
    _AgentProfile(
        name="billing-agent",
        description="Answers invoice questions and issues small refunds",
        provider="openai",
        request_model="gpt-4.1",
        response_model="gpt-4.1-2025-04-14",
        server_address="api.openai.com",
        instructions="You handle billing. Refunds above 500 EUR need a human.",
        tools=(
            _tool(
                "lookup_customer",
                "Find a customer account",
                _customer_call,
                (_TIMEOUT,),
                (0.02, 0.6),
                "agents/billing/crm.py",
            ),
            _tool(
                "get_invoice",
                "Fetch an invoice",
                _invoice_call,
                (("KeyError", "invoice not found"), _TIMEOUT),
                (0.03, 0.8),
                "agents/billing/invoices.py",
            ),
            _tool(
                "issue_refund",
                "Refund part of an invoice",
                _refund_call,
                (
                    ("PermissionError", "refund needs approval by a human"),
                    ("PaymentProviderError", "card network declined the refund"),
                ),
                (0.2, 1.8),
                "agents/billing/refunds.py",
            ),
        ),
        requests=(
            "Why was I charged twice this month? My customer id is in my profile.",
            "Please refund the last invoice, the service was down for {city}.",
            "Send me a copy of my latest invoice.",
        ),
    ),
    _AgentProfile(
        name="support-agent",
        description="Triages support requests and delegates to specialists",
        provider="gcp.gemini",
        request_model="gemini-2.5-flash",
        response_model="gemini-2.5-flash",
        server_address="generativelanguage.googleapis.com",
        instructions="You triage support requests. Delegate to a specialist when you can.",
        tools=(
            _tool(
                "search_kb",
                "Search the help center",
                _kb_call,
                (_TIMEOUT,),
                (0.05, 0.9),
                "agents/support/kb.py",
            ),
            _tool(
                "create_ticket",
                "Open a ticket for a human",
                _ticket_call,
                (("ConnectionError", "ticketing API unreachable"),),
                (0.1, 1.0),
                "agents/support/tickets.py",
            ),
        ),
        requests=(
            "I can't log in since yesterday.",
            "My invoice looks wrong and the weather widget shows {city} instead of home.",
            "How do I export all my data?",
        ),
        delegation_rate=0.6,
    ),
    _AgentProfile(
        name="travel-agent",
        description="Finds flights and books hotels",
        provider="aws.bedrock",
        request_model="anthropic.claude-3-5-haiku-20241022-v1:0",
        response_model="anthropic.claude-3-5-haiku-20241022-v1:0",
        server_address="bedrock-runtime.eu-west-1.amazonaws.com",
        instructions="You plan trips within the traveller's budget.",
        tools=(
            _tool(
                "search_flights",
                "Search flight offers",
                _flights_call,
                (_TIMEOUT, ("ValueError", "no airport matches the origin")),
                (0.5, 3.0),
                "agents/travel/flights.py",
            ),
            _tool(
                "book_hotel",
                "Book a hotel room",
                _hotel_call,
                (("ConflictError", "room no longer available"),),
                (0.3, 2.0),
                "agents/travel/hotels.py",
            ),
        ),
        requests=(
            "Find me a flight to {city} next month and a hotel for three nights.",
            "What's the cheapest way to get to {city}?",
        ),
    ),
)
DEFAULT_AGENT_NAMES: tuple[str, ...] = tuple(agent.name for agent in _BUILTIN_AGENTS)

_GENERIC_TOOLS = (
    _tool(
        "search_docs",
        "Search internal documentation",
        _docs_call,
        (_TIMEOUT,),
        (0.05, 1.0),
        "agents/common/docs.py",
    ),
    _tool(
        "run_sql",
        "Run a read-only SQL query",
        _sql_call,
        (("OperationalError", "canceling statement due to statement timeout"),),
        (0.02, 2.0),
        "agents/common/sql.py",
    ),
    _tool(
        "send_email",
        "Send an email",
        _email_call,
        (("SMTPRecipientsRefused", "recipient address rejected"),),
        (0.1, 0.8),
        "agents/common/mail.py",
    ),
)


def _agent_profile(name: str) -> _AgentProfile:
    for agent in _BUILTIN_AGENTS:
        if agent.name == name:
            return agent
    return _AgentProfile(
        name=name,
        description=f"{name} (generic simulated agent)",
        provider="openai",
        request_model="gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18",
        server_address="api.openai.com",
        instructions=f"You are {name}. Use the tools to answer.",
        tools=_GENERIC_TOOLS,
        requests=("Look into {topic} for me.", "How many orders came in from {city} today?"),
    )


def agent_names(count: int) -> tuple[str, ...]:
    """The first ``count`` built-in agent names, then generic ``agent-N`` ones."""
    if count < 1:
        raise ValueError("at least one agent is needed")
    extra = tuple(f"agent-{n}" for n in range(len(DEFAULT_AGENT_NAMES) + 1, count + 1))
    return (DEFAULT_AGENT_NAMES + extra)[:count]


# --------------------------------------------------------------------------------------
# Planning: a run as plain data (pure, seeded); emission turns it into SDK spans


@dataclass(frozen=True)
class _Failure:
    error_type: str
    message: str
    cause: str  # "tool", "sub_agent", "llm", "max_turns"
    source_file: str
    function: str


@dataclass
class _Step:
    """One planned span; times are nanoseconds from the start of its top-level run."""

    role: Literal["agent", "llm", "tool"]
    name: str
    start: int
    end: int
    attributes: dict[str, AttributeValue]
    failure: _Failure | None = None
    children: list[_Step] = field(default_factory=list)

    @property
    def kind(self) -> SpanKind:
        return SpanKind.CLIENT if self.role == "llm" else SpanKind.INTERNAL

    def count(self) -> int:
        return 1 + sum(child.count() for child in self.children)

    def scale(self, factor: float) -> None:
        self.start, self.end = round(self.start * factor), round(self.end * factor)
        for child in self.children:
            child.scale(factor)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _text_message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


class _RunPlanner:
    """Draws one top-level run (and its nested runs) from a seeded random generator."""

    def __init__(
        self, rng: random.Random, error_rate: float, agents: Sequence[_AgentProfile]
    ) -> None:
        self._rng = rng
        self._error_rate = error_rate
        self._agents = agents

    def plan(self, agent: _AgentProfile) -> _Step:
        root = self._plan_agent(agent, start=0, nested=False)
        duration = root.end - root.start
        if duration > MAX_RUN_DURATION_NS:
            root.scale(MAX_RUN_DURATION_NS / duration)
        elif duration < MIN_RUN_DURATION_NS:
            root.scale(MIN_RUN_DURATION_NS / duration)
        return root

    def _user_request(self, agent: _AgentProfile) -> str:
        rng = self._rng
        template = rng.choice(agent.requests)
        return template.format(city=rng.choice(_CITIES), topic=rng.choice(_TOPICS))

    def _plan_agent(
        self,
        agent: _AgentProfile,
        start: int,
        nested: bool,
        request: str | None = None,
    ) -> _Step:
        rng = self._rng
        request = request or self._user_request(agent)
        user_message = _text_message("user", request)
        history: list[dict[str, Any]] = [user_message]
        steps: list[_Step] = []
        cursor = start + _ns(rng.uniform(0.002, 0.03))

        rounds = rng.randint(1, 2 if nested else agent.max_rounds)
        doom = rng.random() < self._error_rate * WHOLE_RUN_FAILURE_SHARE
        doom_kind = rng.choice(("llm", "max_turns")) if doom else None
        doom_round = rng.randint(0, rounds) if doom_kind == "llm" else None
        candidates = [a for a in self._agents if a.name != agent.name]
        delegate_round: int | None = None
        delegate_mode: str | None = None
        delegate_to: _AgentProfile | None = None
        delegation_call_id: str | None = None
        if not nested and candidates and rng.random() < agent.delegation_rate:
            delegate_round = rng.randrange(rounds)
            delegate_mode = rng.choice(("tool", "direct"))
            delegate_to = rng.choice(candidates)

        failure: _Failure | None = None
        for round_no in range(rounds):
            delegating = round_no == delegate_round
            tools = [] if delegating else self._pick_tools(agent)
            calls = [(tool, *tool.make_call(rng), _ident(rng, "call_", 24)) for tool in tools]
            if delegating and delegate_to is not None:
                delegation_call_id = _ident(rng, "call_", 24) if delegate_mode == "tool" else None
                output = _handoff_message(delegate_to, request, delegation_call_id)
            else:
                output = self._tool_call_message(calls)
            llm_fails = round_no == doom_round
            chat = self._plan_chat(agent, history, output, cursor, llm_fails)
            steps.append(chat)
            cursor = chat.end + _ns(rng.uniform(0.001, 0.02))
            if chat.failure:
                failure = chat.failure
                break
            history.append(output)

            if delegating and delegate_to is not None:
                sub_step, failure = self._plan_delegation(
                    delegate_to, delegation_call_id, request, cursor, history
                )
                steps.append(sub_step)
                cursor = sub_step.end + _ns(rng.uniform(0.001, 0.02))
                if failure:
                    break
                continue

            for tool, arguments, result, call_id in calls:
                tool_step = self._plan_tool(tool, arguments, result, call_id, cursor)
                steps.append(tool_step)
                cursor = tool_step.end + _ns(rng.uniform(0.001, 0.02))
                history.append(self._tool_response(call_id, tool_step, result))
                if tool_step.failure and rng.random() < GIVE_UP_AFTER_FAILURE:
                    failure = replace(
                        tool_step.failure,
                        message=f"tool {tool.name} failed: {tool_step.failure.message}",
                    )
                    break
            if failure:
                break

        final_answer: dict[str, Any] | None = None
        if failure is None and doom_kind == "max_turns":
            failure = _Failure(
                "MaxTurnsExceeded",
                f"max turns ({rounds}) exceeded",
                "max_turns",
                "agents/runtime/loop.py",
                "run",
            )
        elif failure is None:
            final_answer = {
                "role": "assistant",
                "parts": [{"type": "text", "content": _prose(rng, 200, 1200)}],
                "finish_reason": "stop",
            }
            chat = self._plan_chat(agent, history, final_answer, cursor, doom_round == rounds)
            steps.append(chat)
            cursor = chat.end
            failure = chat.failure

        end = cursor + _ns(rng.uniform(0.001, 0.015))
        # The run's own model calls only: a nested run reports its tokens itself.
        llm_steps = [step for step in steps if step.role == "llm"]
        input_tokens = sum(_int_attr(step, "gen_ai.usage.input_tokens") for step in llm_steps)
        output_tokens = sum(_int_attr(step, "gen_ai.usage.output_tokens") for step in llm_steps)
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent.name,
            "gen_ai.agent.id": agent.agent_id,
            "gen_ai.agent.description": agent.description,
            "gen_ai.provider.name": agent.provider,
            "gen_ai.request.model": agent.request_model,
            "gen_ai.conversation.id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "gen_ai.input.messages": json.dumps([user_message]),
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
        }
        if final_answer is not None and failure is None:
            attributes["gen_ai.output.messages"] = json.dumps([final_answer])
        if failure is not None:
            attributes["error.type"] = failure.error_type
        name = f"invoke_agent {agent.name}"
        return _Step("agent", name, start, end, attributes, failure=failure, children=steps)

    def _pick_tools(self, agent: _AgentProfile) -> list[_ToolProfile]:
        rng = self._rng
        return [rng.choice(agent.tools) for _ in range(rng.choice((1, 1, 1, 2)))]

    def _tool_call_message(
        self, calls: Sequence[tuple[_ToolProfile, dict[str, Any], dict[str, Any], str]]
    ) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if self._rng.random() < 0.5:
            names = " and ".join(tool.name for tool, *_ in calls)
            parts.append({"type": "text", "content": f"I'll use {names} to answer that."})
        parts.extend(
            {"type": "tool_call", "id": call_id, "name": tool.name, "arguments": arguments}
            for tool, arguments, _result, call_id in calls
        )
        return {"role": "assistant", "parts": parts, "finish_reason": "tool_call"}

    def _plan_chat(
        self,
        agent: _AgentProfile,
        history: Sequence[dict[str, Any]],
        output: dict[str, Any],
        start: int,
        fails: bool,
    ) -> _Step:
        rng = self._rng
        input_json = json.dumps(_context_window(history))
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": agent.provider,
            "gen_ai.request.model": agent.request_model,
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 1024,
            "server.address": agent.server_address,
            "server.port": 443,
            "gen_ai.system_instructions": json.dumps(
                [{"type": "text", "content": agent.instructions}]
            ),
            "gen_ai.input.messages": input_json,
        }
        if fails:
            error_type, message = rng.choice(
                (
                    (
                        "RateLimitError",
                        f"Error code: 429 - rate limit reached for {agent.request_model}",
                    ),
                    ("APITimeoutError", "Request timed out."),
                )
            )
            duration = rng.uniform(0.5, 5.0)
            failure = _Failure(error_type, message, "llm", "agents/runtime/model.py", "request")
            attributes["error.type"] = error_type
            end = start + _ns(duration)
            return _Step("llm", f"chat {agent.request_model}", start, end, attributes, failure)
        output_json = json.dumps([output])
        input_tokens = 120 + len(input_json) // 4 + rng.randint(0, 40)
        output_tokens = max(1, len(output_json) // 4 + rng.randint(0, 12))
        duration = rng.uniform(0.25, 0.8) + output_tokens * rng.uniform(0.004, 0.012)
        attributes.update(
            {
                "gen_ai.output.messages": output_json,
                "gen_ai.response.model": agent.response_model,
                "gen_ai.response.id": _ident(rng, "chatcmpl-", 24),
                "gen_ai.response.finish_reasons": [output["finish_reason"]],
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
            }
        )
        end = start + _ns(duration)
        return _Step("llm", f"chat {agent.request_model}", start, end, attributes)

    def _plan_tool(
        self,
        tool: _ToolProfile,
        arguments: dict[str, Any],
        result: dict[str, Any],
        call_id: str,
        start: int,
    ) -> _Step:
        rng = self._rng
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool.name,
            "gen_ai.tool.description": tool.description,
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.call.arguments": json.dumps(arguments),
        }
        failure = None
        if rng.random() < self._error_rate:
            error_type, message = rng.choice(tool.failures)
            failure = _Failure(error_type, message, "tool", tool.source_file, tool.name)
            attributes["error.type"] = error_type
        else:
            attributes["gen_ai.tool.call.result"] = json.dumps(result)
        duration = _ns(rng.uniform(*tool.latency_s))
        end = start + duration
        return _Step("tool", f"execute_tool {tool.name}", start, end, attributes, failure)

    def _plan_delegation(
        self,
        sub_agent: _AgentProfile,
        call_id: str | None,
        request: str,
        start: int,
        history: list[dict[str, Any]],
    ) -> tuple[_Step, _Failure | None]:
        """A nested run: inside an ``ask_<agent>`` tool call when there is a call id, else
        right under the delegating run."""
        rng = self._rng
        through_tool = call_id is not None
        sub_start = start + (_ns(rng.uniform(0.001, 0.01)) if through_tool else 0)
        sub_run = self._plan_agent(sub_agent, sub_start, nested=True, request=request)
        answer = _json_attr(sub_run, "gen_ai.output.messages")
        step = sub_run
        if call_id is not None:
            tool_name = _delegation_tool_name(sub_agent)
            attributes: dict[str, AttributeValue] = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool_name,
                "gen_ai.tool.description": f"Ask {sub_agent.name}: {sub_agent.description}",
                "gen_ai.tool.type": "function",
                "gen_ai.tool.call.id": call_id,
                "gen_ai.tool.call.arguments": json.dumps({"request": request}),
            }
            tool_failure = None
            if sub_run.failure is not None:
                attributes["error.type"] = sub_run.failure.error_type
                tool_failure = replace(
                    sub_run.failure,
                    message=f"{sub_agent.name} failed: {sub_run.failure.message}",
                    cause="tool",
                    source_file="agents/runtime/delegation.py",
                    function=tool_name,
                )
            else:
                attributes["gen_ai.tool.call.result"] = json.dumps(answer)
            end = sub_run.end + _ns(rng.uniform(0.001, 0.01))
            name = f"execute_tool {tool_name}"
            step = _Step("tool", name, start, end, attributes, tool_failure, [sub_run])
            history.append(
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": call_id, "response": answer}],
                }
            )
        else:
            history.append(_text_message("assistant", f"[{sub_agent.name}] {json.dumps(answer)}"))

        failure = None
        if sub_run.failure is not None and rng.random() < GIVE_UP_AFTER_FAILURE:
            failure = replace(
                sub_run.failure,
                message=f"{sub_agent.name} failed: {sub_run.failure.message}",
                cause="sub_agent",
            )
        return step, failure

    @staticmethod
    def _tool_response(call_id: str, tool_step: _Step, result: dict[str, Any]) -> dict[str, Any]:
        if tool_step.failure is not None:
            response: Any = {
                "error": f"{tool_step.failure.error_type}: {tool_step.failure.message}"
            }
        else:
            response = result
        return {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": call_id, "response": response}],
        }


def _delegation_tool_name(agent: _AgentProfile) -> str:
    return "ask_" + agent.name.replace("-", "_")


def _handoff_message(sub_agent: _AgentProfile, request: str, call_id: str | None) -> dict[str, Any]:
    """The model's turn that delegates: a tool call when a call id is given, else a handoff."""
    text = f"This needs {sub_agent.name}; handing the request over."
    parts: list[dict[str, Any]] = [{"type": "text", "content": text}]
    if call_id is not None:
        parts.append(
            {
                "type": "tool_call",
                "id": call_id,
                "name": _delegation_tool_name(sub_agent),
                "arguments": {"request": request},
            }
        )
    return {"role": "assistant", "parts": parts, "finish_reason": "tool_call"}


def _context_window(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first message and as many of the latest ones as fit in the prompt budget."""
    kept: list[dict[str, Any]] = []
    size = len(json.dumps(history[0]))
    for message in reversed(history[1:]):
        size += len(json.dumps(message)) + 2
        if size > _PROMPT_BUDGET_CHARS:
            break
        kept.append(message)
    return [history[0], *reversed(kept)]


def _int_attr(step: _Step, key: str) -> int:
    value = step.attributes.get(key, 0)
    return value if isinstance(value, int) else 0


def _json_attr(step: _Step, key: str) -> Any:
    value = step.attributes.get(key)
    return json.loads(value) if isinstance(value, str) else None


def _run_rng(seed: int, index: int, purpose: str) -> random.Random:
    # String seeds are hashed with SHA-512 by random.Random: stable across runs and versions.
    return random.Random(f"agentguide-simulate/{seed}/{index}/{purpose}")


# --------------------------------------------------------------------------------------
# Ids: seeded per run, so a seed reproduces trace ids whatever the thread interleaving

_run_id_rng: ContextVar[random.Random | None] = ContextVar(
    "agentguide_simulate_id_rng", default=None
)


class RunSeededIdGenerator(IdGenerator):
    """Draws ids from the current simulated run's seeded generator, else at random.

    :func:`generate_into` activates a generator per run, so the ids of a run depend only on
    the seed and the run's number, never on which thread made it or when.
    """

    def __init__(self) -> None:
        self._fallback = RandomIdGenerator()

    def generate_span_id(self) -> int:
        rng = _run_id_rng.get()
        if rng is None:
            return self._fallback.generate_span_id()
        return _nonzero_bits(rng, 64)

    def generate_trace_id(self) -> int:
        rng = _run_id_rng.get()
        if rng is None:
            return self._fallback.generate_trace_id()
        return _nonzero_bits(rng, 128)

    def is_trace_id_random(self) -> bool:
        return True


def _nonzero_bits(rng: random.Random, bits: int) -> int:
    value = 0
    while value == 0:
        value = rng.getrandbits(bits)
    return value


@contextlib.contextmanager
def _seeded_ids(rng: random.Random) -> Iterator[None]:
    token = _run_id_rng.set(rng)
    try:
        yield
    finally:
        _run_id_rng.reset(token)


# --------------------------------------------------------------------------------------
# Emission: planned steps -> SDK spans, and the records of what was emitted


@dataclass
class _RunAccumulator:
    index: int
    trace_id: str
    span_id: str
    parent_run_span_id: str | None
    agent_name: str
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    llm_calls: int = 0
    failed_llm_calls: int = 0

    def finish(self, step: _Step, base_ns: int) -> RunRecord:
        failure = step.failure
        return RunRecord(
            index=self.index,
            trace_id=self.trace_id,
            span_id=self.span_id,
            parent_run_span_id=self.parent_run_span_id,
            agent_name=self.agent_name,
            failed=failure is not None,
            error_type=failure.error_type if failure else None,
            error_message=failure.message if failure else None,
            failure_cause=failure.cause if failure else None,
            start_time_unix_nano=base_ns + step.start,
            end_time_unix_nano=base_ns + step.end,
            tool_calls=tuple(self.tool_calls),
            llm_calls=self.llm_calls,
            failed_llm_calls=self.failed_llm_calls,
            input_tokens=_int_attr(step, "gen_ai.usage.input_tokens"),
            output_tokens=_int_attr(step, "gen_ai.usage.output_tokens"),
        )


def _stacktrace(failure: _Failure) -> str:
    return (
        "Traceback (most recent call last):\n"
        f'  File "{failure.source_file}", line 42, in {failure.function}\n'
        "    return await self._call_backend(request)\n"
        f"{failure.error_type}: {failure.message}\n"
    )


class _Emitter:
    def __init__(self, tracer: trace.Tracer, index: int, base_ns: int) -> None:
        self._tracer = tracer
        self._index = index
        self._base_ns = base_ns
        self.records: list[RunRecord] = []

    def emit(
        self, step: _Step, parent: Context | None = None, run: _RunAccumulator | None = None
    ) -> None:
        span = self._tracer.start_span(
            step.name,
            context=parent,
            kind=step.kind,
            attributes=step.attributes,
            start_time=self._base_ns + step.start,
        )
        context = span.get_span_context()
        span_id = format(context.span_id, "016x")
        if step.role == "agent":
            run = _RunAccumulator(
                index=self._index,
                trace_id=format(context.trace_id, "032x"),
                span_id=span_id,
                parent_run_span_id=run.span_id if run else None,
                agent_name=str(step.attributes["gen_ai.agent.name"]),
            )
        elif run is not None and step.role == "tool":
            run.tool_calls.append(
                ToolCallRecord(
                    tool_name=str(step.attributes["gen_ai.tool.name"]),
                    call_id=str(step.attributes["gen_ai.tool.call.id"]),
                    span_id=span_id,
                    failed=step.failure is not None,
                    error_type=step.failure.error_type if step.failure else None,
                )
            )
        elif run is not None and step.role == "llm":
            run.llm_calls += 1
            run.failed_llm_calls += step.failure is not None

        child_context = trace.set_span_in_context(span)
        for child in step.children:
            self.emit(child, child_context, run)

        end_ns = self._base_ns + step.end
        if step.failure is not None:
            span.record_exception(
                Exception(step.failure.message),
                attributes={
                    "exception.type": step.failure.error_type,
                    "exception.stacktrace": _stacktrace(step.failure),
                },
                timestamp=end_ns,
                escaped=True,
            )
            span.set_status(Status(StatusCode.ERROR, step.failure.message))
        span.end(end_time=end_ns)
        if step.role == "agent" and run is not None:
            self.records.append(run.finish(step, self._base_ns))


# --------------------------------------------------------------------------------------
# The generator


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentguide")
    except PackageNotFoundError:
        return "0.0.0"


def _resolved(config: SimulationConfig) -> SimulationConfig:
    return replace(
        config,
        seed=config.seed if config.seed is not None else secrets.randbits(31),
        anchor_time_ns=config.anchor_time_ns or time.time_ns(),
    )


def generate_into(
    tracer_provider: trace.TracerProvider,
    config: SimulationConfig,
    *,
    run_indices: Iterable[int] | None = None,
    after_run: Callable[[Sequence[RunRecord], int], None] | None = None,
) -> SimulationSummary:
    """Create the spans of ``config.runs`` runs (or of ``run_indices``) in ``tracer_provider``.

    Nothing is exported or flushed here: that is the provider's business. ``after_run`` is
    called after each top-level run with its records (nested runs included) and its span
    count. A missing seed is drawn at random and reported in the summary.
    """
    config = _resolved(config)
    assert config.seed is not None and config.anchor_time_ns is not None
    tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, _version())
    profiles = [_agent_profile(name) for name in config.agents]
    window_ns = _ns(config.time_window_s)

    records: list[RunRecord] = []
    spans = 0
    for index in range(config.runs) if run_indices is None else run_indices:
        rng = _run_rng(config.seed, index, "plan")
        agent = rng.choice(profiles)
        root = _RunPlanner(rng, config.error_rate, profiles).plan(agent)
        age_ns = int(rng.uniform(0, window_ns - root.end))
        base_ns = config.anchor_time_ns - age_ns - root.end
        emitter = _Emitter(tracer, index, base_ns)
        with _seeded_ids(_run_rng(config.seed, index, "ids")):
            emitter.emit(root)
        span_count = root.count()
        records.extend(emitter.records)
        spans += span_count
        if after_run is not None:
            after_run(emitter.records, span_count)
    return SimulationSummary.from_records(records, seed=config.seed, spans=spans)


# --------------------------------------------------------------------------------------
# OTLP/JSON


def export_request_to_otlp_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """The OTLP/JSON form of an export request.

    Proto3 JSON mapping (camelCase keys, 64-bit integers as strings, bytes as base64) with
    the OTLP exceptions: enums as integers, trace and span ids as lowercase hex.
    """
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                _hex_ids(span, ("traceId", "spanId", "parentSpanId"))
                for link in span.get("links", ()):
                    _hex_ids(link, ("traceId", "spanId"))
    return document


def _hex_ids(message: dict[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        if key in message:
            message[key] = base64.b64decode(message[key]).hex()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP-date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(moment.timestamp() - current, 0.0)


RETRYABLE_HTTP_STATUSES = frozenset({429, 502, 503, 504})


class OTLPJSONSpanExporter(SpanExporter):
    """Exports spans as OTLP/JSON over HTTP, retrying 429/502/503/504 and network errors.

    A ``Retry-After`` header sets the wait before the next attempt; otherwise the wait
    doubles from 0.5 s with jitter. No attempt starts after ``max_retry_s``.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        compression: Compression = "none",
        max_retry_s: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        self._compression = compression
        self._timeout_s = timeout_s
        self._max_retry_s = max_retry_s
        self._session = session or requests.Session()
        self._shutdown = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown.is_set():
            return SpanExportResult.FAILURE
        document = export_request_to_otlp_json(encode_spans(spans))
        body = json.dumps(document, separators=(",", ":")).encode()
        if self._compression == "gzip":
            body = gzip.compress(body)
        deadline = time.monotonic() + self._max_retry_s
        for attempt in itertools.count():
            try:
                response = self._session.post(
                    self._endpoint, data=body, headers=self._headers, timeout=self._timeout_s
                )
            except requests.RequestException as error:
                reason, delay = str(error), None
            else:
                if 200 <= response.status_code < 300:
                    self._warn_partial_success(response)
                    return SpanExportResult.SUCCESS
                reason = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRYABLE_HTTP_STATUSES:
                    _logger.error("OTLP/JSON export to %s failed: %s", self._endpoint, reason)
                    return SpanExportResult.FAILURE
                delay = parse_retry_after(response.headers.get("Retry-After"))
            if delay is None:
                delay = min(0.5 * 2**attempt, 30.0) * random.uniform(0.8, 1.2)
            if time.monotonic() + delay > deadline or self._shutdown.wait(delay):
                break
            _logger.info("OTLP/JSON export retrying in %.1f s after %s", delay, reason)
        _logger.error("OTLP/JSON export to %s gave up: %s", self._endpoint, reason)
        return SpanExportResult.FAILURE

    def _warn_partial_success(self, response: requests.Response) -> None:
        if not response.content:
            return
        try:
            parsed = json_format.Parse(
                response.text, ExportTraceServiceResponse(), ignore_unknown_fields=True
            )
        except (json_format.ParseError, ValueError):
            return
        partial = parsed.partial_success
        if partial.rejected_spans or partial.error_message:
            _logger.warning(
                "OTLP/JSON endpoint rejected %d span(s): %s",
                partial.rejected_spans,
                partial.error_message,
            )

    def shutdown(self) -> None:
        self._shutdown.set()
        self._session.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# --------------------------------------------------------------------------------------
# Exporter setup


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


class _DeliveryTally:
    """Counts spans the exporters confirmed or failed, across all worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generated_spans = 0
        self.generated_runs = 0
        self.delivered_spans = 0
        self.failed_spans = 0

    def add_generated(self, runs: int, spans: int) -> None:
        with self._lock:
            self.generated_runs += runs
            self.generated_spans += spans

    def add_export(self, spans: int, ok: bool) -> None:
        with self._lock:
            if ok:
                self.delivered_spans += spans
            else:
                self.failed_spans += spans


class _TallyingExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, tally: _DeliveryTally) -> None:
        self._inner = inner
        self._tally = tally

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._inner.export(spans)
        self._tally.add_export(len(spans), result is SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def build_tracer_provider(span_exporter: SpanExporter) -> TracerProvider:
    """A provider with seeded ids, no sampling, and a batch processor around the exporter."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": SERVICE_NAME, "service.version": _version()}),
        id_generator=RunSeededIdGenerator(),
        sampler=ALWAYS_ON,
    )
    provider.add_span_processor(BatchSpanProcessor(span_exporter, max_queue_size=4096))
    return provider


# The batch processor drops spans when its queue is full: flush before that can happen.
_FLUSH_EVERY_SPANS = 1024


def simulate(
    config: SimulationConfig,
    *,
    on_progress: Callable[[int, int, int], None] | None = None,
    span_exporter_factory: Callable[[], SpanExporter] | None = None,
) -> SimulationSummary:
    """Generate ``config.runs`` runs and export them over OTLP; wait until they are sent.

    ``config.concurrency`` workers each own a tracer provider and an exporter, so that many
    exports are in flight at once. ``on_progress(runs, spans_generated, spans_delivered)``
    is called after every top-level run. Generation stops early once an export has
    failed for good; the summary then covers the runs generated so far and says how many
    spans were not delivered. ``span_exporter_factory`` replaces the OTLP exporters.
    """
    config = _resolved(config)
    make_exporter = span_exporter_factory or (lambda: build_span_exporter(config))
    tally = _DeliveryTally()
    stop = threading.Event()
    workers = min(config.concurrency, max(config.runs, 1))

    def work(worker: int) -> SimulationSummary:
        provider = build_tracer_provider(_TallyingExporter(make_exporter(), tally))
        pending = 0

        def after_run(records: Sequence[RunRecord], span_count: int) -> None:
            nonlocal pending
            tally.add_generated(1, span_count)
            pending += span_count
            if pending >= _FLUSH_EVERY_SPANS:
                provider.force_flush()
                pending = 0
            if tally.failed_spans:
                stop.set()
            if on_progress is not None:
                on_progress(tally.generated_runs, tally.generated_spans, tally.delivered_spans)

        shard = (index for index in range(worker, config.runs, workers) if not stop.is_set())
        try:
            return generate_into(provider, config, run_indices=shard, after_run=after_run)
        finally:
            provider.shutdown()

    with ThreadPoolExecutor(workers, thread_name_prefix="agentguide-simulate") as pool:
        futures = [pool.submit(work, worker) for worker in range(workers)]
        try:
            summaries = [future.result() for future in futures]
        except BaseException:
            # Ctrl-C or a worker's error: let the other workers stop after their current run.
            stop.set()
            raise
    combined = SimulationSummary.combine(summaries)
    return replace(
        combined,
        delivered_spans=tally.delivered_spans,
        undelivered_spans=combined.spans - tally.delivered_spans,
    )


# --------------------------------------------------------------------------------------
# Command line (the `agentguide simulate` subcommand; agentguide/cli.py wires it)


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
        choices=get_args(Compression),
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
