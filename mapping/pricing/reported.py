"""A cost the span states itself: it wins over any computed one.

No OpenTelemetry GenAI attribute carries a cost; instrumentations use their own keys:

- OpenInference ``llm.cost.total`` (USD), else ``llm.cost.prompt`` + ``llm.cost.completion``
  when both are there;
- OpenLIT (and Laminar) ``gen_ai.usage.cost`` (USD);
- Pydantic AI / Logfire ``operation.cost`` (USD, from genai-prices) on its model-call spans.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["REPORTED_COST_KEYS", "REPORTED_COST_PART_KEYS", "reported_cost"]

REPORTED_COST_KEYS = ("llm.cost.total", "gen_ai.usage.cost", "operation.cost")
REPORTED_COST_PART_KEYS = ("llm.cost.prompt", "llm.cost.completion")


def _usd(value: Any) -> Decimal | None:
    """A finite, non-negative amount, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        # str() keeps a float's shortest decimal spelling (0.1, not its binary expansion)
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def reported_cost(attributes: Mapping[str, Any]) -> Decimal | None:
    """The USD cost the span's attributes state, or None when they state none."""
    for key in REPORTED_COST_KEYS:
        if key in attributes:
            amount = _usd(attributes[key])
            if amount is not None:
                return amount
    prompt, completion = (_usd(attributes.get(key)) for key in REPORTED_COST_PART_KEYS)
    if prompt is None or completion is None:
        return None
    return prompt + completion
