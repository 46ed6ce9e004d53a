"""SpanFacts built directly, for derive_trace tests that need no protobuf."""

from __future__ import annotations

from typing import Any

from mapping.model import SpanFacts, make_id

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def sid(n: int) -> str:
    """A span id from a small number: sid(1) == '0000000000000001'."""
    return f"{n:016x}"


def rid(n: int) -> str:
    """The run or step id of span ``sid(n)``."""
    return make_id(TRACE, sid(n))


def facts(
    n: int,
    parent: int | None,
    category: str = "plain",
    *,
    start: int | None = None,
    end: int | None = None,
    **fields: Any,
) -> SpanFacts:
    """Facts of span ``sid(n)`` under ``sid(parent)``, starting at ``n * 10`` by default."""
    start_ns = start if start is not None else n * 10
    defaults: dict[str, Any] = {
        "status": "UNSET",
        "status_message": None,
        "name": f"span-{n}",
        "service_name": "svc",
    }
    if category == "agent":
        defaults["agent_name"] = f"agent-{n}"
    if category == "tool":
        defaults["tool_name"] = f"tool-{n}"
    defaults.update(fields)
    return SpanFacts(
        trace_id=TRACE,
        span_id=sid(n),
        parent_span_id=sid(parent) if parent is not None else None,
        start_ns=start_ns,
        end_ns=end if end is not None else start_ns + 5,
        category=category,  # type: ignore[arg-type]
        **defaults,
    )
