"""The JSON answers of the sessions and users routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import Run, Timestamp


class Session(BaseModel):
    """A session (a conversation, a chat, a multi-turn task): the runs sharing a session id."""

    id: str = Field(description="the session id the runs carry (gen_ai.conversation.id, ...)")
    user_id: str | None = Field(description="the user of its earliest run that names one")
    run_count: int
    failed_run_count: int = Field(description="runs with status FAILED")
    running_count: int = Field(description="runs not finished yet (PENDING or RUNNING)")
    first_activity_at: Timestamp = Field(description="the start of its earliest run")
    last_activity_at: Timestamp = Field(
        description="the latest end of its runs (the start of one still open, if later)"
    )
    duration_ms: float = Field(description="from first to last activity")
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float | None = Field(description="USD summed over its priced runs; null: none priced")
    agents: list[str] = Field(description="the agents of its runs, sorted")
    first_message: str | None = Field(
        description="the input of its first top-level run (a preview of 512 characters)"
    )
    first_run_id: str = Field(description="that run")


class SessionList(BaseModel):
    items: list[Session]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null: last")


class SessionDetail(BaseModel):
    session: Session
    runs: list[Run] = Field(
        description="its runs oldest first (start time, then id): the turns of the "
        "conversation, each with its input and output previews (512 characters; the run's "
        "own page has them whole); nested runs name their parent_run_id"
    )
    next_cursor: str | None = Field(description="the next page of runs; null: none left")


class User(BaseModel):
    id: str = Field(description="the user id its runs carry (user.id, ...)")
    run_count: int = Field(description="all its runs")
    session_count: int = Field(description="sessions whose user it is (their earliest run's)")
    failed_run_count: int
    first_activity_at: Timestamp = Field(description="the start of its earliest run")
    last_activity_at: Timestamp = Field(description="the start of its latest run")
    total_tokens: int
    cost: float | None = Field(description="USD summed over its priced runs; null: none priced")
    agents: list[str] = Field(description="the agents of its runs, sorted")


class UserList(BaseModel):
    items: list[User]
    next_cursor: str | None
