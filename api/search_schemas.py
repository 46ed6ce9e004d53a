"""Answer models of search (api/runs.py with q, api/export.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SnippetFragment(BaseModel):
    text: str
    match: bool = Field(description="true: this piece is an occurrence of a searched word")


class SearchMatch(BaseModel):
    """Where the words of q were found in a run."""

    score: float | None = Field(
        description="relevance (sort=relevance): PostgreSQL ts_rank of the run's words "
        "against q's, 0 when the words occur only as the start of longer words; null in the "
        "other orders"
    )
    step_id: str | None = Field(
        description="the run or step (48 hex characters, trace id then span id) whose text "
        "matched first"
    )
    span_id: str | None
    name: str | None = Field(description="that run's or step's name")
    field: Literal["input", "output", "error"] | None = Field(
        description="which of its texts matched"
    )
    fragments: list[SnippetFragment] = Field(
        description="the snippet around the first match, in order; matches are marked"
    )
