"""GET /v1/sessions, /v1/sessions/{id}, /v1/users, /v1/users/{id}: runs grouped by the
conversation (session) and the user they carry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from api.activity_cursor import InvalidCursor, decode_cursor, encode_cursor
from api.auth import ProjectIdDep
from api.errors import ApiError
from api.params import ERROR_RESPONSES, AgentDep, WindowDep, invalid_parameter, text_value
from api.presenters import present_run
from api.session_schemas import Session, SessionDetail, SessionList, User, UserList
from api.times import format_time
from storage.session_queries import (
    ActivityKey,
    SessionFilters,
    SessionQueries,
    SessionRow,
    SessionStatus,
    UserRow,
)

router = APIRouter(tags=["sessions"], responses=ERROR_RESPONSES)

MAX_LIMIT = 500
MAX_RUNS = 1000


def get_session_queries(request: Request, project_id: ProjectIdDep) -> SessionQueries:
    return SessionQueries(request.app.state.store.pool, project_id)


SessionQueriesDep = Annotated[SessionQueries, Depends(get_session_queries)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page, as given")]


def _activity_key(cursor: str | None) -> ActivityKey | None:
    if cursor is None:
        return None
    try:
        return ActivityKey(*decode_cursor(cursor))
    except InvalidCursor as exc:
        raise invalid_parameter("cursor", str(exc)) from None


def present_session(row: SessionRow) -> Session:
    return Session(
        id=row.session_id,
        user_id=row.user_id,
        run_count=row.run_count,
        failed_run_count=row.failed_run_count,
        running_count=row.running_count,
        first_activity_at=format_time(row.first_ns),
        last_activity_at=format_time(row.last_ns),
        duration_ms=(row.last_ns - row.first_ns) / 1e6,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        total_tokens=row.total_tokens,
        cost=row.cost,
        agents=list(row.agent_names),
        first_message=row.first_input,
        first_run_id=row.first_run_id,
    )


def present_user(row: UserRow) -> User:
    return User(
        id=row.user_id,
        run_count=row.run_count,
        session_count=row.session_count,
        failed_run_count=row.failed_run_count,
        first_activity_at=format_time(row.first_ns),
        last_activity_at=format_time(row.last_ns),
        total_tokens=row.total_tokens,
        cost=row.cost,
        agents=list(row.agent_names),
    )


@router.get(
    "/v1/sessions",
    summary="Sessions (conversations), newest activity first, filtered",
    response_model=SessionList,
)
async def list_sessions(
    queries: SessionQueriesDep,
    window: WindowDep,
    agent: AgentDep,
    user_id: Annotated[str | None, Query(description="the sessions of one user")] = None,
    status: Annotated[
        SessionStatus | None,
        Query(description="failed: a run of the session failed; ok: none did"),
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SessionList:
    """since/until select sessions active in that interval: one of its runs started before
    until, and its last activity is at or after since."""
    filters = SessionFilters(
        window=window, agent=agent, user_id=text_value(user_id, "user_id"), status=status
    )
    page = await queries.list_sessions(filters, after=_activity_key(cursor), limit=limit)
    return SessionList(
        items=[present_session(row) for row in page.sessions],
        next_cursor=encode_cursor(page.next_key.last_ns, page.next_key.id)
        if page.next_key
        else None,
    )


@router.get(
    "/v1/sessions/{session_id:path}",
    summary="One session and its runs in order: the conversation turn by turn",
    response_model=SessionDetail,
)
async def get_session(
    queries: SessionQueriesDep,
    session_id: Annotated[str, Path(description="the session id, URL-encoded")],
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS, description="runs per page")] = 200,
    cursor: Cursor = None,
) -> SessionDetail:
    session_id = text_value(session_id, "session_id", "path") or ""
    after = None
    if cursor is not None:
        try:
            after = decode_cursor(cursor, run_id=True)
        except InvalidCursor as exc:
            raise invalid_parameter("cursor", str(exc)) from None
    detail = await queries.get_session(session_id, after=after, limit=limit)
    if detail is None:
        raise ApiError(404, f"no session {session_id!r}")
    return SessionDetail(
        session=present_session(detail.session),
        runs=[present_run(row) for row in detail.runs],
        next_cursor=encode_cursor(*detail.next_key) if detail.next_key else None,
    )


@router.get(
    "/v1/users",
    summary="Users, latest activity first, with their runs, sessions and failures",
    response_model=UserList,
)
async def list_users(
    queries: SessionQueriesDep,
    window: WindowDep,
    agent: AgentDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UserList:
    """Users whose runs started within since/until (their first before until, their latest at
    or after since) and who ran the agent; each with the sums over all its runs."""
    page = await queries.list_users(
        window=window, agent=agent, user_id=None, after=_activity_key(cursor), limit=limit
    )
    return UserList(
        items=[present_user(row) for row in page.users],
        next_cursor=encode_cursor(page.next_key.last_ns, page.next_key.id)
        if page.next_key
        else None,
    )


@router.get(
    "/v1/users/{user_id:path}",
    summary="One user's runs, sessions and failures",
    response_model=User,
)
async def get_user(
    queries: SessionQueriesDep,
    window: WindowDep,
    agent: AgentDep,
    user_id: Annotated[str, Path(description="the user id, URL-encoded")],
) -> User:
    user_id = text_value(user_id, "user_id", "path") or ""
    page = await queries.list_users(
        window=window, agent=agent, user_id=user_id, after=None, limit=1
    )
    if not page.users:
        raise ApiError(404, f"no runs of user {user_id!r}")
    return present_user(page.users[0])
