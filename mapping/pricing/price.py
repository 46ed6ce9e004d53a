"""``price_llm_call``: the cost of one LLM call, from the span's cost, an override or
genai-prices, in that order."""

from __future__ import annotations

from decimal import Decimal

from mapping.pricing.catalogue import catalogue_cost, find_model, price_data_version, token_cost
from mapping.pricing.model import BilledTokens, CostResult, TokenUsage, UnpricedReason
from mapping.pricing.overrides import PriceOverrides
from mapping.pricing.providers import library_provider_id
from mapping.pricing.tokens import billed_tokens

__all__ = ["MAX_MODEL_NAME_CHARS", "price_llm_call"]

# No model name is this long; longer strings are not looked up (and not cached).
MAX_MODEL_NAME_CHARS = 256


def price_llm_call(
    model: str | None,
    provider: str | None,
    usage: TokenUsage,
    at_ns: int,
    overrides: PriceOverrides | None = None,
    *,
    reported_cost: Decimal | None = None,
    input_includes_cache: bool | None = None,
    output_includes_reasoning: bool | None = None,
) -> CostResult:
    """The cost of one LLM call made at ``at_ns`` (Unix nanoseconds, the span's start).

    ``model`` and ``provider`` are as the span names them; ``reported_cost`` is the USD cost
    the span states (see ``reported_cost()``), which wins. Otherwise the first override in
    force for the model prices it, else genai-prices' price for that date. Unpriced when the
    call has no token counts, or its model (or provider) is in neither.
    """
    tokens = billed_tokens(
        usage,
        input_includes_cache=input_includes_cache,
        output_includes_reasoning=output_includes_reasoning,
    )
    if reported_cost is not None:
        return CostResult(reported_cost, "reported", tokens=tokens, price_source="span")
    if tokens is None:
        return _unpriced("no token counts", provider)
    if not model or not model.strip() or len(model) > MAX_MODEL_NAME_CHARS:
        return _unpriced("unknown model", provider, tokens)

    if overrides:
        row = overrides.find(model, provider, at_ns)
        if row is not None:
            breakdown = token_cost(tokens, row.rates)
            return CostResult(
                breakdown.total,
                "computed",
                breakdown=breakdown,
                tokens=tokens,
                provider_id=library_provider_id(row.provider or provider),
                model_id=row.model,
                price_source="override",
                price_version=row.version,
            )

    found, reason = find_model(model, provider)
    if found is None:
        return _unpriced(reason or "unknown model", provider, tokens)
    listed_cost = catalogue_cost(tokens, found.prices_at(at_ns))
    if listed_cost is None:  # the model is listed, but not priced by the token
        return _unpriced(
            "unknown model", provider, tokens, provider_id=found.provider_id, model=found.model_id
        )
    return CostResult(
        listed_cost.total,
        "computed",
        breakdown=listed_cost,
        tokens=tokens,
        provider_id=found.provider_id,
        model_id=found.model_id,
        price_source="genai-prices",
        price_version=price_data_version(),
    )


def _unpriced(
    reason: UnpricedReason,
    provider: str | None,
    tokens: BilledTokens | None = None,
    *,
    provider_id: str | None = None,
    model: str | None = None,
) -> CostResult:
    return CostResult(
        None,
        "unpriced",
        unpriced_reason=reason,
        tokens=tokens,
        provider_id=provider_id or library_provider_id(provider),
        model_id=model,
    )
