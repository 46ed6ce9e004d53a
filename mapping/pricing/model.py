"""The records of pricing: token counts in, a cost with its source and breakdown out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

CostSource = Literal["reported", "computed", "unpriced"]
UnpricedReason = Literal["unknown model", "unknown provider", "no token counts"]
PriceSource = Literal["span", "override", "genai-prices"]

ZERO = Decimal(0)


@dataclass(slots=True)
class TokenUsage:
    """Token counts of one LLM call as the span reports them (None: not reported).

    ``input_tokens`` and ``output_tokens`` are read as the conventions define them (input
    including cached tokens, output including reasoning tokens); :func:`billed_tokens` decides
    from the counts themselves when a span breaks that rule.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(slots=True)
class BilledTokens:
    """Disjoint token counts, each billed at its own rate exactly once.

    ``reasoning`` is part of ``output`` (it is billed at the output rate unless the price
    table has a reasoning rate); the two flags say how the span's counts were read.
    """

    uncached_input: int
    cache_read: int
    cache_write: int
    output: int
    reasoning: int
    input_included_cache: bool
    output_included_reasoning: bool

    @property
    def input_total(self) -> int:
        """All input tokens: uncached, read from the cache and written to it."""
        return self.uncached_input + self.cache_read + self.cache_write


@dataclass(slots=True)
class CostBreakdown:
    """USD per part of one call; the parts add up to its cost.

    ``input`` is the uncached input (and cached tokens of a model whose price table has no
    cache rate: they are billed as plain input), ``output`` includes reasoning, ``other`` is
    what the price table charges beyond tokens (a fee per request).
    """

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    other: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.input + self.cache_read + self.cache_write + self.output + self.other


@dataclass(slots=True)
class CostResult:
    """The cost of one LLM call and where it came from.

    ``cost`` is USD, exact; None exactly when ``cost_source`` is "unpriced" (then
    ``unpriced_reason`` says why). ``provider_id`` and ``model_id`` are what the price was
    found under (genai-prices ids, or the matching override's provider and model pattern);
    ``price_version`` identifies the price data ("genai-prices 0.2.3", "override <id>").
    """

    cost: Decimal | None
    cost_source: CostSource
    unpriced_reason: UnpricedReason | None = None
    breakdown: CostBreakdown | None = None
    tokens: BilledTokens | None = None
    provider_id: str | None = None
    model_id: str | None = None
    price_source: PriceSource | None = None
    price_version: str | None = None

    @property
    def priced(self) -> bool:
        return self.cost is not None
