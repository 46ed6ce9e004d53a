"""Query parameters shared by the query API's routes, and their validation.

Every rejection is a ``RequestValidationError``, so it gets the API's one 422 shape with the
parameter named, exactly like FastAPI's own validation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from api.auth import ProjectIdDep
from api.schemas import ErrorResponse
from api.times import InvalidTime, parse_time
from storage.queries import EXACT_MAX_WINDOW_NS, Queries
from storage.query_records import TimeWindow

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown id"},
    422: {"model": ErrorResponse, "description": "A parameter is invalid; `parameters` names it"},
    503: {"model": ErrorResponse, "description": "The database is unavailable; retry later"},
}

TIME_DESCRIPTION = "RFC 3339 (e.g. 2025-01-31T12:00:00Z; no offset means UTC) or epoch milliseconds"


def invalid_parameter(name: str, message: str, location: str = "query") -> RequestValidationError:
    return RequestValidationError(
        [{"loc": (location, name), "msg": message, "type": "value_error", "input": None}]
    )


def time_value(value: str | None, name: str, location: str = "query") -> int | None:
    """Unix nanoseconds of a ``since``/``until``-style parameter, None when absent."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except InvalidTime as exc:
        raise invalid_parameter(name, str(exc), location) from None


def text_value(value: str | None, name: str, location: str = "query") -> str | None:
    """A text filter; PostgreSQL text cannot hold NUL, so no stored value can match one."""
    if value is not None and "\x00" in value:
        raise invalid_parameter(name, "must not contain the NUL character", location)
    return value


def time_window(
    since: Annotated[
        str | None,
        Query(description="only what started at or after this instant. " + TIME_DESCRIPTION),
    ] = None,
    until: Annotated[
        str | None, Query(description="only what started before this instant. " + TIME_DESCRIPTION)
    ] = None,
) -> TimeWindow:
    window = TimeWindow(time_value(since, "since"), time_value(until, "until"))
    if (
        window.since_ns is not None
        and window.until_ns is not None
        and window.since_ns > window.until_ns
    ):
        raise invalid_parameter("until", "must not be before since")
    return window


def agent_filter(
    agent: Annotated[str | None, Query(description="agent name")] = None,
) -> str | None:
    return text_value(agent, "agent")


def get_queries(request: Request, project_id: ProjectIdDep) -> Queries:
    """The read queries of the caller's project."""
    return Queries(request.app.state.store.pool, project_id)


QueriesDep = Annotated[Queries, Depends(get_queries)]

EXACT_DESCRIPTION = (
    "compute percentiles exactly from every row instead of the rollups (windows of at most "
    "7 days, since and until both given)"
)


def exact_flag(
    window: Annotated[TimeWindow, Depends(time_window)],
    exact: Annotated[bool, Query(description=EXACT_DESCRIPTION)] = False,
) -> bool:
    if not exact:
        return False
    if window.since_ns is None or window.until_ns is None:
        raise invalid_parameter("exact", "needs both since and until")
    if window.until_ns - window.since_ns > EXACT_MAX_WINDOW_NS:
        raise invalid_parameter("exact", "works on windows of at most 7 days")
    return True


ExactDep = Annotated[bool, Depends(exact_flag)]
WindowDep = Annotated[TimeWindow, Depends(time_window)]
AgentDep = Annotated[str | None, Depends(agent_filter)]
