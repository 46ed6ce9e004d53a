"""genai-prices behind a small interface: which model a span names, and what its tokens cost.

The price data is the one bundled with the installed genai-prices package (never its
auto-update, which downloads): ``price_data_version()`` names it. Lookups are cached by
(model, provider) in bounded caches, so a sender inventing model names costs memory only up
to the cache size; genai-prices' own lookup caches (unbounded) are not used.

Costs are computed with genai-prices' own per-unit arithmetic (``calc_unit_price``, which
also picks the context-length tier) on the model's token prices. A model whose price table
charges for anything beyond tokens (a fee per request, a separate reasoning rate) is priced
by genai-prices' full calculation instead; both give the library's total, to the digit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from mapping.pricing.model import ZERO, BilledTokens, CostBreakdown, UnpricedReason
from mapping.pricing.providers import library_provider_id

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, ModelPrice, Provider

__all__ = [
    "CatalogueModel",
    "TokenRates",
    "find_model",
    "load_price_data",
    "price_data_version",
    "token_cost",
]

TOKENS_PER_PRICE = 1_000_000  # prices are per million tokens
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Price keys whose usage a token count never reports: with token usage alone they cost 0.
# A model pricing any key outside these and the four token keys goes through genai-prices'
# full calculation (a new key in a later genai-prices version is therefore safe).
_TOKEN_KEYS = frozenset({"input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok"})
_ZERO_FOR_TOKENS = frozenset(
    {
        "cache_write_5m_mtok",
        "cache_write_1h_mtok",
        "input_text_mtok",
        "output_text_mtok",
        "input_audio_mtok",
        "output_audio_mtok",
        "cache_audio_read_mtok",
        "input_image_mtok",
        "output_image_mtok",
        "cache_image_read_mtok",
        "input_video_mtok",
        "output_video_mtok",
        "output_citation_mtok",
        "audio_hours",
        "input_audio_hours",
        "input_mchars",
        "input_document_kpages",
        "input_annotated_document_kpages",
        "input_text_messages_kcount",
        "web_searches_kcount",
        "storage_searches_kcount",
    }
)


@dataclass(frozen=True, slots=True)
class TokenRates:
    """USD per million tokens (a Decimal, or genai-prices' tiers by context length).

    A cache rate of None bills those tokens at the input rate.
    """

    input: Any
    output: Any
    cache_read: Any = None
    cache_write: Any = None


@dataclass(frozen=True, slots=True)
class _Prices:
    """A model's prices at one time: token rates, or the full table when it needs more."""

    rates: TokenRates | None  # None: the model has no token prices
    full_table: ModelPrice | None  # set when genai-prices must compute (fees beyond tokens)


@dataclass(frozen=True, slots=True)
class CatalogueModel:
    """A model found in genai-prices, under the provider it was found with."""

    provider_id: str
    model_id: str
    info: ModelInfo
    fixed_prices: _Prices | None  # None when the prices change with the date or time of day

    def prices_at(self, at_ns: int) -> _Prices:
        if self.fixed_prices is not None:
            return self.fixed_prices
        moment = _EPOCH + timedelta(microseconds=at_ns // 1000)
        return _prices_of(self.info.get_prices(moment))


@lru_cache(maxsize=1)
def price_data_version() -> str:
    """The price data in use: the installed genai-prices version (its data is bundled)."""
    import genai_prices

    return f"genai-prices {genai_prices.__version__}"


def load_price_data() -> None:
    """Load the price catalogue now rather than at the first priced call (a long-lived
    process loads it before it freezes its start-up objects: ``agentguide.memory``)."""
    from genai_prices.data_snapshot import get_snapshot

    get_snapshot()


def find_model(
    model: str, provider: str | None
) -> tuple[CatalogueModel | None, UnpricedReason | None]:
    """The model a span names, or why none is found ("unknown model" / "unknown provider").

    A known provider is searched first; when it does not list the model (an OpenAI-compatible
    API serving another vendor's model, say), or the provider is unknown, the model name
    decides the provider as genai-prices matches it; a "vendor/model" name is tried as
    provider and model last.
    """
    return _find_model(model.strip().lower(), provider.strip() if provider else None)


@lru_cache(maxsize=4096)
def _find_model(
    model_ref: str, provider: str | None
) -> tuple[CatalogueModel | None, UnpricedReason | None]:
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

    providers = get_snapshot().providers
    provider_id = library_provider_id(provider)
    found: tuple[Provider, ModelInfo] | None = None
    if provider_id is not None:
        listed = find_provider_by_id(providers, provider_id)
        if listed is not None:
            found = _lookup(listed, model_ref, providers)
    if found is None:
        found = _lookup_by_model_name(model_ref, providers)
    if found is None and "/" in model_ref:
        vendor, _, name = model_ref.partition("/")
        vendor_id = library_provider_id(vendor)
        listed = find_provider_by_id(providers, vendor_id) if vendor_id else None
        if listed is not None:
            found = _lookup(listed, name, providers)
    if found is None:
        unknown_provider = provider is not None and provider_id is None
        return None, "unknown provider" if unknown_provider else "unknown model"

    listed, info = found
    from genai_prices.types import ModelPrice

    fixed = _prices_of(info.prices) if isinstance(info.prices, ModelPrice) else None
    return CatalogueModel(listed.id, info.id, info, fixed), None


def _lookup(
    provider: Provider, model_ref: str, providers: list[Provider]
) -> tuple[Provider, ModelInfo] | None:
    info = provider.find_model(model_ref, all_providers=providers)
    return (provider, info) if info is not None else None


def _lookup_by_model_name(
    model_ref: str, providers: list[Provider]
) -> tuple[Provider, ModelInfo] | None:
    """genai-prices' provider inference: the first provider whose model pattern matches."""
    for provider in providers:
        if provider.model_match is not None and provider.model_match.is_match(model_ref):
            return _lookup(provider, model_ref, providers)
    return None


_PRICES_BY_TABLE: dict[int, tuple[ModelPrice, _Prices]] = {}


def _prices_of(table: ModelPrice) -> _Prices:
    """The token rates of one price table (cached: the tables are the bundled data's own)."""
    cached = _PRICES_BY_TABLE.get(id(table))
    if cached is not None and cached[0] is table:
        return cached[1]
    priced = {
        key for key, value in vars(table).items() if value is not None and not key.startswith("_")
    }
    if table.input_mtok is None and table.output_mtok is None:
        prices = _Prices(None, None)
    else:
        rates = TokenRates(
            input=table.input_mtok,
            output=table.output_mtok,
            cache_read=table.cache_read_mtok,
            cache_write=table.cache_write_mtok,
        )
        needs_library = not priced <= _TOKEN_KEYS | _ZERO_FOR_TOKENS
        prices = _Prices(rates, table if needs_library else None)
    _PRICES_BY_TABLE[id(table)] = (table, prices)
    return prices


_calc_unit_price: Callable[[Any, int, int, int], Decimal] | None = None


def _load_calc_unit_price() -> Callable[[Any, int, int, int], Decimal]:
    """genai-prices' price of one unit count (tiers included), imported on first use."""
    global _calc_unit_price
    from genai_prices.types import calc_unit_price

    _calc_unit_price = calc_unit_price
    return calc_unit_price


def token_cost(tokens: BilledTokens, rates: TokenRates) -> CostBreakdown:
    """What the tokens cost at these rates; cache tokens without a rate cost the input rate."""
    calc_unit_price = _calc_unit_price or _load_calc_unit_price()
    total_input = tokens.input_total
    input_count = tokens.uncached_input
    cache_read = cache_write = ZERO
    if tokens.cache_read:
        if rates.cache_read is None:
            input_count += tokens.cache_read
        else:
            cache_read = calc_unit_price(
                rates.cache_read, tokens.cache_read, total_input, TOKENS_PER_PRICE
            )
    if tokens.cache_write:
        if rates.cache_write is None:
            input_count += tokens.cache_write
        else:
            cache_write = calc_unit_price(
                rates.cache_write, tokens.cache_write, total_input, TOKENS_PER_PRICE
            )
    return CostBreakdown(
        input=calc_unit_price(rates.input, input_count, total_input, TOKENS_PER_PRICE),
        cache_read=cache_read,
        cache_write=cache_write,
        output=calc_unit_price(rates.output, tokens.output, total_input, TOKENS_PER_PRICE),
    )


def library_cost(tokens: BilledTokens, table: ModelPrice) -> CostBreakdown:
    """genai-prices' full calculation, split into the same parts as ``token_cost``."""
    from genai_prices import Usage

    calc_unit_price = _calc_unit_price or _load_calc_unit_price()

    usage = Usage(
        input_tokens=tokens.input_total,
        cache_read_tokens=tokens.cache_read,
        cache_write_tokens=tokens.cache_write,
        output_tokens=tokens.output,
        output_reasoning_tokens=tokens.reasoning or None,
    )
    price = table.calc_price(usage)
    total_input = tokens.input_total
    cache_read = (
        calc_unit_price(table.cache_read_mtok, tokens.cache_read, total_input, TOKENS_PER_PRICE)
        if table.cache_read_mtok is not None
        else ZERO
    )
    cache_write = (
        calc_unit_price(table.cache_write_mtok, tokens.cache_write, total_input, TOKENS_PER_PRICE)
        if table.cache_write_mtok is not None
        else ZERO
    )
    input_price: Decimal = price["input_price"]
    output_price: Decimal = price["output_price"]
    return CostBreakdown(
        input=input_price - cache_read - cache_write,
        cache_read=cache_read,
        cache_write=cache_write,
        output=output_price,
        other=price["total_price"] - input_price - output_price,
    )


def catalogue_cost(tokens: BilledTokens, prices: _Prices) -> CostBreakdown | None:
    """The cost of ``tokens`` at a model's prices; None when it has no token prices."""
    if prices.rates is None:
        return None
    if prices.full_table is not None:
        return library_cost(tokens, prices.full_table)
    return token_cost(tokens, prices.rates)
