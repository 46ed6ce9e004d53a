"""The simulated agents: who they are, which model they call, which tools they use and how
those tools fail. Names outside the built-in five get a generic profile."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from agentguide.simulation.payloads import (
    ToolCallFactory,
    citations_call,
    convert_call,
    customer_call,
    docs_call,
    email_call,
    fetch_call,
    flights_call,
    forecast_call,
    hotel_call,
    invoice_call,
    kb_call,
    refund_call,
    search_call,
    sql_call,
    ticket_call,
    weather_call,
)

__all__ = ["DEFAULT_AGENT_NAMES", "AgentProfile", "ToolProfile", "agent_names", "agent_profile"]


@dataclass(frozen=True)
class ToolProfile:
    """One tool an agent can call."""

    name: str
    description: str
    make_call: ToolCallFactory  # draws (arguments, result)
    failures: tuple[tuple[str, str], ...]  # (error.type, message)
    latency_s: tuple[float, float]
    source_file: str


@dataclass(frozen=True)
class AgentProfile:
    """One simulated agent: its model, instructions, tools and typical requests."""

    name: str
    description: str
    provider: str
    request_model: str
    response_model: str
    server_address: str
    instructions: str
    tools: tuple[ToolProfile, ...]
    requests: tuple[str, ...]  # user requests; {city} and {topic} are filled in
    delegation_rate: float = 0.2
    max_rounds: int = 3

    @property
    def agent_id(self) -> str:
        return "agt_" + hashlib.sha256(self.name.encode()).hexdigest()[:20]


def _tool(
    name: str,
    description: str,
    make_call: ToolCallFactory,
    failures: tuple[tuple[str, str], ...],
    latency_s: tuple[float, float],
    source_file: str,
) -> ToolProfile:
    return ToolProfile(name, description, make_call, failures, latency_s, source_file)


_TIMEOUT = ("TimeoutError", "upstream did not answer within 5 s")
_BUILTIN_AGENTS: tuple[AgentProfile, ...] = (
    AgentProfile(
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
                weather_call,
                (_TIMEOUT, ("ConnectionError", "weather API refused the connection")),
                (0.08, 1.2),
                "agents/weather/tools.py",
            ),
            _tool(
                "get_forecast",
                "Daily forecast for a city",
                forecast_call,
                (("ValueError", "forecast horizon must be between 1 and 5 days"), _TIMEOUT),
                (0.1, 1.5),
                "agents/weather/tools.py",
            ),
            _tool(
                "convert_units",
                "Convert a temperature between units",
                convert_call,
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
    AgentProfile(
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
                search_call,
                (("ConnectionError", "search backend refused the connection"), _TIMEOUT),
                (0.3, 2.0),
                "agents/research/search.py",
            ),
            _tool(
                "fetch_page",
                "Fetch a web page as text",
                fetch_call,
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
                citations_call,
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
    AgentProfile(
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
                customer_call,
                (_TIMEOUT,),
                (0.02, 0.6),
                "agents/billing/crm.py",
            ),
            _tool(
                "get_invoice",
                "Fetch an invoice",
                invoice_call,
                (("KeyError", "invoice not found"), _TIMEOUT),
                (0.03, 0.8),
                "agents/billing/invoices.py",
            ),
            _tool(
                "issue_refund",
                "Refund part of an invoice",
                refund_call,
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
    AgentProfile(
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
                kb_call,
                (_TIMEOUT,),
                (0.05, 0.9),
                "agents/support/kb.py",
            ),
            _tool(
                "create_ticket",
                "Open a ticket for a human",
                ticket_call,
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
    AgentProfile(
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
                flights_call,
                (_TIMEOUT, ("ValueError", "no airport matches the origin")),
                (0.5, 3.0),
                "agents/travel/flights.py",
            ),
            _tool(
                "book_hotel",
                "Book a hotel room",
                hotel_call,
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
        docs_call,
        (_TIMEOUT,),
        (0.05, 1.0),
        "agents/common/docs.py",
    ),
    _tool(
        "run_sql",
        "Run a read-only SQL query",
        sql_call,
        (("OperationalError", "canceling statement due to statement timeout"),),
        (0.02, 2.0),
        "agents/common/sql.py",
    ),
    _tool(
        "send_email",
        "Send an email",
        email_call,
        (("SMTPRecipientsRefused", "recipient address rejected"),),
        (0.1, 0.8),
        "agents/common/mail.py",
    ),
)


def agent_profile(name: str) -> AgentProfile:
    """The built-in agent of that name, else a generic one with generic tools."""
    for agent in _BUILTIN_AGENTS:
        if agent.name == name:
            return agent
    return AgentProfile(
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
