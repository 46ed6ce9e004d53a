"""Scores in the API: the body an evaluator posts, and the scores and aggregates answered."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from api.rest_models import MAX_NAME_BYTES, Instant, Name, Text
from api.schemas import Score

MAX_SCORES_PER_REQUEST = 100

ScoreValue = Annotated[
    float,
    Field(strict=True, allow_inf_nan=False, description="a finite number (0..1 is usual)"),
]


class ScoreCreate(BaseModel):
    """One judgement: give a value, a label, or both."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description=f"what was judged, e.g. relevance (1 to {MAX_NAME_BYTES} bytes)")
    value: ScoreValue | None = None
    label: Name | None = Field(default=None, description="e.g. pass, fail, helpful")
    explanation: Text | None = Field(default=None, description="why, for a person")
    observed_at: Instant | None = Field(default=None, description="when the judgement was made")

    @model_validator(mode="after")
    def _value_or_label(self) -> ScoreCreate:
        if self.value is None and self.label is None:
            raise ValueError("give value, label or both")
        return self


def _shape(body: Any) -> str:
    return "scores" if isinstance(body, list) else "score"


ScoreBatch = Annotated[list[ScoreCreate], Field(min_length=1, max_length=MAX_SCORES_PER_REQUEST)]
ScoresBody = Annotated[
    Annotated[ScoreCreate, Tag("score")] | Annotated[ScoreBatch, Tag("scores")],
    Discriminator(_shape),
    Field(description=f"one score, or a list of 1 to {MAX_SCORES_PER_REQUEST}"),
]


class ScoreList(BaseModel):
    items: list[Score]
    next_offset: int | None = Field(description="offset of the next page; null on the last")


class ScoresWritten(BaseModel):
    items: list[Score] = Field(description="the scores written, in the order given")
