"""What a failure signature stands for, and how a failed run failed (part of run detail)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SignatureInfo(BaseModel):
    """What a failure signature stands for."""

    signature: str = Field(description="16 hex digits; the same way of failing has the same id")
    title: str = Field(description="one line: `tool search: TimeoutError: timed out after <num>s`")
    kind: str | None = Field(
        description="the failing step's kind (tool, llm, agent, ...), or `run` when the run's "
        "own error is the cause; null when the signature is not registered (runs derived "
        "before this version)"
    )
    name: str | None = Field(description="the failing tool, model or step; empty for `run`")
    error_type: str | None
    message_template: str | None = Field(
        description="the error message with its variable parts replaced by <num>, <id>, '<str>', "
        "<url>, <path>, <uuid>, <ts>, <ip>, <email>"
    )


class RunFailure(SignatureInfo):
    """How a failed run failed, and how many others failed the same way."""

    other_runs: int = Field(description="other stored runs with the same signature, any agent")
    runs_url: str = Field(description="the API query listing every run that failed so")
