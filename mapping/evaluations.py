"""``gen_ai.evaluation.result`` events: judgements of a span (its step or run) as scores.

An evaluation event (a span event, or a log record sent as an event: ``mapping.log_events``)
names the evaluation (``gen_ai.evaluation.name``) and gives a numeric value, a label, an
explanation, or ``error.type`` when the evaluation itself failed. The name is bounded like an
identifier, the label too, the explanation like a display text. An event without a name is
not a score.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import isfinite
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.conventions import otel
from mapping.model import ScoreFacts
from mapping.text import display, identifier
from mapping.values import as_text, python_value

EVALUATION_EVENT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
SCORE_VALUE = "gen_ai.evaluation.score.value"
SCORE_LABEL = "gen_ai.evaluation.score.label"
EXPLANATION = "gen_ai.evaluation.explanation"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return None
        else:
            return None
    number = float(value)
    return number if isfinite(number) else None


def _bounded(value: str | None, field: str, cut: list[str], as_identifier: bool) -> str | None:
    if value is None:
        return None
    text, was_cut = identifier(value) if as_identifier else display(value)
    if was_cut:
        cut.append(field)
    return text


def evaluation_scores(events: Iterable[Span.Event]) -> list[ScoreFacts]:
    """The scores of a span's evaluation events, in event order."""
    scores = []
    for event in events:
        if event.name != EVALUATION_EVENT:
            continue
        attrs = {kv.key: python_value(kv.value) for kv in event.attributes}
        cut: list[str] = []
        name = _bounded(as_text(attrs.get(EVALUATION_NAME)), "name", cut, True)
        if not name:
            continue
        scores.append(
            ScoreFacts(
                name=name,
                value=_number(attrs.get(SCORE_VALUE)),
                label=_bounded(as_text(attrs.get(SCORE_LABEL)), "label", cut, True),
                explanation=_bounded(as_text(attrs.get(EXPLANATION)), "explanation", cut, False),
                error_type=_bounded(as_text(attrs.get(otel.ERROR_TYPE)), "error_type", cut, True),
                time_ns=event.time_unix_nano,
                truncated_fields=tuple(cut),
            )
        )
    return scores
