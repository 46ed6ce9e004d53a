"""Pricing LLM calls: pure, no I/O (the price data is genai-prices' bundled table).

``price_llm_call(model, provider, usage, at_ns, overrides, reported_cost=...)`` returns a
``CostResult``: ``cost`` in USD (an exact ``Decimal``), ``cost_source`` and, when unpriced,
the reason. The rules, each in its module:

1. **A reported cost wins** (``reported``): the span's own ``llm.cost.total``,
   ``gen_ai.usage.cost`` or ``operation.cost``, or ``llm.cost.prompt`` +
   ``llm.cost.completion`` (``reported_cost()``; the caller passes the amount).
2. **Tokens are made disjoint** (``tokens``): input includes cache reads and writes, output
   includes reasoning, as the conventions say, unless the counts prove a span broke that
   rule; cached tokens are then billed at the cache rates once, reasoning at the output rate
   once, never also at the full rate.
3. **An override in force wins over the price table** (``overrides``): exact model names or
   patterns, optionally per provider, from a date on, most specific first.
4. **Else genai-prices at the call's start time** (``catalogue``): the provider from the
   span (its GenAI / OpenInference name mapped by ``providers``), else inferred from the
   model name. ``computed``, with the part costs, the ids it was found under and
   ``price_version`` ("genai-prices 0.2.3").
5. **Else unpriced**: ``cost`` None (never 0), ``unpriced_reason`` "no token counts",
   "unknown model" or "unknown provider" (a provider name that maps to nothing and a model
   name that names no provider either).

``roll_up`` sums calls and sub-roll-ups: the priced sum, and the unpriced calls counted
beside it (``rollup``).
"""

from __future__ import annotations

from mapping.pricing.catalogue import price_data_version
from mapping.pricing.model import (
    BilledTokens,
    CostBreakdown,
    CostResult,
    CostSource,
    PriceSource,
    TokenUsage,
    UnpricedReason,
)
from mapping.pricing.overrides import PriceOverride, PriceOverrides
from mapping.pricing.price import price_llm_call
from mapping.pricing.providers import KNOWN_PROVIDER_NAMES, library_provider_id
from mapping.pricing.reported import REPORTED_COST_KEYS, REPORTED_COST_PART_KEYS, reported_cost
from mapping.pricing.rollup import CostRollup, roll_up
from mapping.pricing.tokens import billed_tokens

__all__ = [
    "KNOWN_PROVIDER_NAMES",
    "REPORTED_COST_KEYS",
    "REPORTED_COST_PART_KEYS",
    "BilledTokens",
    "CostBreakdown",
    "CostResult",
    "CostRollup",
    "CostSource",
    "PriceOverride",
    "PriceOverrides",
    "PriceSource",
    "TokenUsage",
    "UnpricedReason",
    "billed_tokens",
    "library_provider_id",
    "price_data_version",
    "price_llm_call",
    "reported_cost",
    "roll_up",
]
