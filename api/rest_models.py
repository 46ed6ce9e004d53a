"""Request bodies of the REST ingest (for agents without OpenTelemetry)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from api.params import TIME_DESCRIPTION

# Names and ids end up in indexed columns (agents, runs by agent, session or user, steps by
# tool), whose entries PostgreSQL caps at about 2.7 kB: the limit is in UTF-8 bytes, with room.
MAX_NAME_BYTES = 512
MAX_TEXT_BYTES = 256 * 1024


def _storable_text(value: str, limit: int) -> str:
    """Text a PostgreSQL column can hold: no NUL, valid UTF-8, at most ``limit`` bytes."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("contains an unpaired surrogate, which is not UTF-8") from None
    if size > limit:
        raise ValueError(f"must be at most {limit} bytes in UTF-8, got {size}")
    return value


def _name(value: str) -> str:
    return _storable_text(value, MAX_NAME_BYTES)


def _text(value: str) -> str:
    return _storable_text(value, MAX_TEXT_BYTES)


Name = Annotated[
    str,
    StringConstraints(min_length=1),
    AfterValidator(_name),
    Field(description=f"at most {MAX_NAME_BYTES} bytes in UTF-8"),
]
Text = Annotated[
    str, AfterValidator(_text), Field(description=f"at most {MAX_TEXT_BYTES} bytes in UTF-8")
]
Instant = Annotated[str | StrictInt, Field(description=TIME_DESCRIPTION + "; default: now")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-/]{1,128}$")]
MetricValue = Annotated[float, Field(allow_inf_nan=False)]
JsonValue = Annotated[
    Any, Field(description="any JSON value; a string is kept as it is, anything else as JSON")
]

FinalRunStatus = Literal["SUCCESS", "FAILED", "CANCELLED"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorInput(_Body):
    type: Name | None = Field(default=None, description="exception or error type")
    message: Text


class RunCreate(_Body):
    """Give agent_name, or the agent_id of an agent already known by name."""

    agent_name: Name | None = None
    agent_id: Name | None = None
    agent_version: Name | None = None
    agent_description: Text | None = None
    input: JsonValue = None
    session_id: Name | None = None
    user_id: Name | None = None
    service_name: Name | None = Field(default=None, description="default: the agent name")
    started_at: Instant | None = None


class StepCreate(_Body):
    tool_name: Name
    input: JsonValue = None
    index: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="expected 0-based position; steps are ordered by started_at, so a "
        "conflicting index is refused with 409",
    )
    tool_call_id: Name | None = None
    started_at: Instant | None = None


class StepUpdate(_Body):
    """Finishes a step: SUCCESS unless an error is given."""

    output: JsonValue = None
    error: ErrorInput | str | None = Field(default=None, description="a message or {type, message}")
    status: Literal["SUCCESS", "FAILED"] | None = None
    finished_at: Instant | None = None


class RunUpdate(_Body):
    """Moves a run on (PENDING → RUNNING → SUCCESS, FAILED or CANCELLED) and records results."""

    status: Literal["RUNNING", "SUCCESS", "FAILED", "CANCELLED"] | None = Field(
        default=None, description="FAILED when only an error is given"
    )
    output: JsonValue = None
    error: ErrorInput | str | None = Field(default=None, description="a message or {type, message}")
    finished_at: Instant | None = Field(
        default=None, description="with a final status; default: now. " + TIME_DESCRIPTION
    )
    metrics: dict[MetricName, MetricValue] | None = Field(
        default=None,
        max_length=100,
        description="numbers by name; input_tokens, output_tokens and total_tokens set the "
        "run's token totals",
    )
