"""Pricing LLM calls: against genai-prices' own calculation, with cache and reasoning tokens,
overrides, reported costs, historical prices and the provider names spans use."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from decimal import Decimal

import genai_prices
import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelPrice
from hypothesis import given
from hypothesis import strategies as st

from mapping.pricing import (
    KNOWN_PROVIDER_NAMES,
    BilledTokens,
    CostResult,
    CostRollup,
    PriceOverride,
    PriceOverrides,
    TokenUsage,
    billed_tokens,
    library_provider_id,
    price_data_version,
    price_llm_call,
    reported_cost,
    roll_up,
)
from mapping.pricing.catalogue import _prices_of, catalogue_cost


def at(year: int, month: int, day: int, hour: int = 12) -> int:
    """Unix nanoseconds of a UTC time."""
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp()) * 1_000_000_000


NOW = at(2026, 5, 4)


def library_total(
    model: str,
    provider_id: str,
    at_ns: int,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read: int = 0,
    cache_write: int = 0,
) -> Decimal:
    """genai-prices' own calculation (input_tokens is the total, cache counts inside it)."""
    return calc_price(
        Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        ),
        model,
        provider_id=provider_id,
        genai_request_timestamp=datetime.fromtimestamp(at_ns / 1e9, UTC),
    ).total_price


def rates_of(model: str, provider_id: str, at_ns: int) -> dict[str, Decimal]:
    """The model's base prices per million tokens (the rate below any context-length tier)."""
    _, info = get_snapshot().find_provider_model(model, None, provider_id, None)
    table = info.get_prices(datetime.fromtimestamp(at_ns / 1e9, UTC))
    keys = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
    values = {key: getattr(table, key) for key in keys}
    return {key: getattr(value, "base", value) for key, value in values.items()}


# --- known models cost what genai-prices computes ------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "provider_id"),
    [
        ("gpt-4o-mini-2024-07-18", "openai", "openai"),
        ("gpt-4.1-2025-04-14", "openai", "openai"),
        ("claude-sonnet-4-5-20250929", "anthropic", "anthropic"),
        ("gemini-2.5-flash", "gcp.gemini", "google"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "aws.bedrock", "aws"),
        ("mistral-large-latest", "mistral_ai", "mistral"),
        ("grok-3", "x_ai", "x-ai"),
        ("deepseek-chat", "deepseek", "deepseek"),
        ("command-r-plus", "cohere", "cohere"),
    ],
)
def test_a_known_model_costs_what_the_library_computes(model, provider, provider_id):
    usage = TokenUsage(input_tokens=12_000, output_tokens=800, cache_read_input_tokens=9_000)

    result = price_llm_call(model, provider, usage, NOW)

    expected = library_total(
        model, provider_id, NOW, input_tokens=12_000, output_tokens=800, cache_read=9_000
    )
    assert result.cost_source == "computed"
    assert result.cost == expected > 0
    assert result.provider_id == provider_id
    assert result.price_source == "genai-prices"
    assert result.breakdown is not None and result.breakdown.total == result.cost


def test_every_model_in_the_bundled_table_costs_what_the_library_computes():
    """The fast path (token rates) and the library path agree with genai-prices' own full
    calculation for every price table it bundles, tiers and cache rates included."""
    usages = [
        BilledTokens(1_000, 0, 0, 200, 0, True, True),
        BilledTokens(150_000, 100_000, 30_000, 5_000, 0, True, True),  # above the 200k tiers
        BilledTokens(10, 500_000, 0, 20, 0, True, True),
        BilledTokens(1_000, 300, 0, 900, 600, True, True),  # with reasoning
    ]
    compared = 0
    for provider in get_snapshot().providers:
        for model in provider.models:
            tables = (
                [model.prices]
                if isinstance(model.prices, ModelPrice)
                else [conditional.prices for conditional in model.prices]
            )
            for table in tables:
                for tokens in usages:
                    ours = catalogue_cost(tokens, _prices_of(table))
                    with warnings.catch_warnings():
                        warnings.simplefilter("error")
                        theirs = table.calc_price(
                            Usage(
                                input_tokens=tokens.input_total,
                                cache_read_tokens=tokens.cache_read,
                                cache_write_tokens=tokens.cache_write,
                                output_tokens=tokens.output,
                                output_reasoning_tokens=tokens.reasoning or None,
                            )
                        )
                    if ours is None:  # no token prices: unpriced, where the library says 0
                        assert theirs["total_price"] == 0, (provider.id, model.id)
                        continue
                    compared += 1
                    assert ours.total == theirs["total_price"], (provider.id, model.id, tokens)
                    assert ours.output == theirs["output_price"], (provider.id, model.id)
    assert compared > 5_000


@given(
    input_tokens=st.integers(0, 2_000_000),
    cached_share=st.floats(0, 1),
    output_tokens=st.integers(0, 200_000),
)
def test_any_token_counts_cost_what_the_library_computes(input_tokens, cached_share, output_tokens):
    cache_read = int(input_tokens * cached_share)
    usage = TokenUsage(input_tokens, output_tokens, cache_read_input_tokens=cache_read)
    for model, provider in (("claude-opus-4-6", "anthropic"), ("gpt-4o", "openai")):
        result = price_llm_call(model, provider, usage, NOW)
        assert result.cost == library_total(
            model,
            provider,
            NOW,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read=cache_read,
        )


# --- cache and reasoning tokens are billed once, at their own rate ----------------------------


def test_cache_reads_cost_the_cache_rate_and_only_that():
    rates = rates_of("claude-sonnet-4-5", "anthropic", NOW)
    assert rates["cache_read_mtok"] < rates["input_mtok"]
    usage = TokenUsage(input_tokens=10_000, output_tokens=500, cache_read_input_tokens=8_000)

    result = price_llm_call("claude-sonnet-4-5", "anthropic", usage, NOW)

    assert result.breakdown is not None and result.tokens is not None
    assert result.tokens.uncached_input == 2_000
    assert result.breakdown.cache_read == 8_000 * rates["cache_read_mtok"] / 1_000_000
    assert result.breakdown.input == 2_000 * rates["input_mtok"] / 1_000_000
    assert result.breakdown.output == 500 * rates["output_mtok"] / 1_000_000
    uncached = price_llm_call("claude-sonnet-4-5", "anthropic", TokenUsage(10_000, 500), NOW)
    assert uncached.cost is not None and result.cost is not None
    saved = 8_000 * (rates["input_mtok"] - rates["cache_read_mtok"]) / 1_000_000
    assert uncached.cost - result.cost == saved


def test_cache_writes_cost_the_cache_write_rate():
    rates = rates_of("claude-sonnet-4-5", "anthropic", NOW)
    usage = TokenUsage(input_tokens=6_000, output_tokens=0, cache_write_input_tokens=5_000)

    result = price_llm_call("claude-sonnet-4-5", "anthropic", usage, NOW)

    assert result.breakdown is not None
    assert result.breakdown.cache_write == 5_000 * rates["cache_write_mtok"] / 1_000_000
    assert result.breakdown.input == 1_000 * rates["input_mtok"] / 1_000_000


def test_anthropic_counts_passed_through_unchanged_are_read_as_exclusive():
    """Cache counts larger than the input: the input cannot include them (Anthropic's own
    ``input_tokens``, as Logfire's Claude SDK integration reports them)."""
    usage = TokenUsage(
        input_tokens=3, output_tokens=100, cache_read_input_tokens=7_166,
        cache_write_input_tokens=2_175,
    )  # fmt: skip

    result = price_llm_call("claude-sonnet-4-5", "anthropic", usage, NOW)

    assert result.tokens == BilledTokens(3, 7_166, 2_175, 100, 0, False, True)
    assert result.cost == library_total(
        "claude-sonnet-4-5", "anthropic", NOW, input_tokens=3 + 7_166 + 2_175,
        output_tokens=100, cache_read=7_166, cache_write=2_175,
    )  # fmt: skip


def test_a_total_that_adds_the_cache_counts_shows_the_input_excludes_them():
    """Strands reports Bedrock's exclusive counts with total = input + output + both caches,
    even when the fresh input is larger than the cached part."""
    usage = TokenUsage(
        input_tokens=50_000, output_tokens=631, cache_read_input_tokens=35_574,
        cache_write_input_tokens=0, total_tokens=50_000 + 631 + 35_574,
    )  # fmt: skip
    tokens = billed_tokens(usage)
    assert tokens is not None and not tokens.input_included_cache
    assert tokens.uncached_input == 50_000 and tokens.input_total == 85_574

    inclusive = TokenUsage(50_000, 631, cache_read_input_tokens=35_574, total_tokens=50_631)
    tokens = billed_tokens(inclusive)
    assert tokens is not None and tokens.input_included_cache
    assert tokens.uncached_input == 50_000 - 35_574


def test_the_caller_may_state_how_its_instrumentation_counts():
    usage = TokenUsage(input_tokens=5_000, output_tokens=10, cache_read_input_tokens=1_000)
    stated = billed_tokens(usage, input_includes_cache=False)
    assert stated is not None and stated.uncached_input == 5_000
    assert billed_tokens(usage) == BilledTokens(4_000, 1_000, 0, 10, 0, True, True)
    impossible = billed_tokens(
        TokenUsage(10, 1, cache_read_input_tokens=50), input_includes_cache=True
    )
    assert impossible is not None and impossible.uncached_input == 10


def test_reasoning_tokens_are_output_tokens_billed_once():
    # OpenAI: completion_tokens include reasoning_tokens
    openai = price_llm_call(
        "o3", "openai", TokenUsage(1_000, 500, reasoning_output_tokens=400), NOW
    )
    assert openai.tokens is not None and openai.tokens.output == 500
    assert openai.cost == library_total("o3", "openai", NOW, input_tokens=1_000, output_tokens=500)
    # Gemini's candidate tokens exclude thoughts: a reasoning count above the output shows it
    gemini = price_llm_call(
        "gemini-2.5-flash", "gcp.gemini", TokenUsage(1_000, 100, reasoning_output_tokens=400), NOW
    )
    assert gemini.tokens is not None and gemini.tokens.output == 500
    assert gemini.cost == library_total(
        "gemini-2.5-flash", "google", NOW, input_tokens=1_000, output_tokens=500
    )
    # ... and so does a total of input + output + reasoning
    by_total = billed_tokens(
        TokenUsage(1_000, 300, reasoning_output_tokens=200, total_tokens=1_500)
    )
    assert by_total is not None and by_total.output == 500


@given(
    input_tokens=st.integers(0, 10**7) | st.none(),
    output_tokens=st.integers(0, 10**6) | st.none(),
    cache_read=st.integers(0, 10**7) | st.none(),
    cache_write=st.integers(0, 10**6) | st.none(),
    reasoning=st.integers(0, 10**6) | st.none(),
    total=st.integers(0, 3 * 10**7) | st.none(),
)
def test_billed_tokens_are_disjoint_and_cover_what_was_reported(
    input_tokens, output_tokens, cache_read, cache_write, reasoning, total
):
    usage = TokenUsage(input_tokens, output_tokens, cache_read, cache_write, reasoning, total)
    tokens = billed_tokens(usage)
    if input_tokens is None and output_tokens is None and not cache_read and not cache_write:
        assert tokens is None
        return
    assert tokens is not None
    assert min(tokens.uncached_input, tokens.cache_read, tokens.cache_write, tokens.output) >= 0
    assert tokens.input_total >= (input_tokens or 0)
    assert tokens.input_total in {(input_tokens or 0), (input_tokens or 0) + (cache_read or 0)
                                  + (cache_write or 0)}  # fmt: skip
    assert tokens.output in {output_tokens or 0, (output_tokens or 0) + (reasoning or 0)}
    assert tokens.reasoning <= tokens.output


# --- unpriced calls say why -------------------------------------------------------------------


def test_an_unknown_model_is_unpriced_never_zero():
    result = price_llm_call("acme-internal-llm-v3", "openai", TokenUsage(1_000, 100), NOW)
    assert result == CostResult(
        None, "unpriced", "unknown model",
        tokens=BilledTokens(1_000, 0, 0, 100, 0, True, True), provider_id="openai",
    )  # fmt: skip
    assert not result.priced


def test_an_unknown_provider_with_an_unknown_model_is_unpriced_for_its_provider():
    # Pydantic AI's offline FunctionModel, as in the captured fixtures
    result = price_llm_call("scripted-weather-model", "function", TokenUsage(55, 5), NOW)
    assert (result.cost, result.cost_source, result.unpriced_reason) == (
        None, "unpriced", "unknown provider",
    )  # fmt: skip
    no_provider = price_llm_call("scripted-weather-model", None, TokenUsage(55, 5), NOW)
    assert no_provider.unpriced_reason == "unknown model"


def test_an_unknown_provider_with_a_known_model_is_priced_by_the_model_name():
    # Strands sets gen_ai.system to the framework's own name
    result = price_llm_call("gpt-4o", "strands-agents", TokenUsage(1_000, 100), NOW)
    assert result.cost_source == "computed" and result.provider_id == "openai"


def test_a_call_without_token_counts_is_unpriced():
    for usage in (TokenUsage(), TokenUsage(input_tokens=-5), TokenUsage(total_tokens=1_000)):
        result = price_llm_call("gpt-4o", "openai", usage, NOW)
        assert (result.cost, result.unpriced_reason) == (None, "no token counts")


def test_missing_or_absurd_model_names_are_unknown_models():
    for model in (None, "", "   ", "x" * 10_000):
        result = price_llm_call(model, "openai", TokenUsage(10, 10), NOW)
        assert (result.cost, result.unpriced_reason) == (None, "unknown model")


def test_a_model_priced_beyond_tokens_only_is_unpriced():
    """mistral-ocr is priced per page: its tokens have no price, so no cost (not 0)."""
    result = price_llm_call("mistral-ocr-latest", "mistral_ai", TokenUsage(1_000, 100), NOW)
    assert (result.cost, result.unpriced_reason, result.model_id) == (
        None, "unknown model", "mistral-ocr-latest",
    )  # fmt: skip


# --- a reported cost wins -----------------------------------------------------------------


def test_a_reported_cost_wins_over_everything():
    override = PriceOverrides([PriceOverride("gpt-4o", Decimal(100), Decimal(100))])
    for model, usage in (("gpt-4o", TokenUsage(1_000, 100)), ("unknown", TokenUsage())):
        result = price_llm_call(
            model, "openai", usage, NOW, override, reported_cost=Decimal("0.0123")
        )
        assert (result.cost, result.cost_source, result.price_source) == (
            Decimal("0.0123"), "reported", "span",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"llm.cost.total": 0.0066}, Decimal("0.0066")),
        ({"gen_ai.usage.cost": 0.5}, Decimal("0.5")),
        ({"operation.cost": 0.01039005}, Decimal("0.01039005")),
        ({"llm.cost.prompt": 0.0021, "llm.cost.completion": 0.0045}, Decimal("0.0066")),
        ({"llm.cost.total": 0, "gen_ai.usage.cost": 3}, Decimal(0)),  # a cost of 0 is a cost
        ({"llm.cost.total": -1.0, "gen_ai.usage.cost": 0.2}, Decimal("0.2")),
        ({"llm.cost.prompt": 0.0021}, None),  # half a cost is not a cost
        ({"llm.cost.total": float("nan")}, None),
        ({"llm.cost.total": True}, None),
        ({"llm.cost.total": "0.25"}, Decimal("0.25")),
        ({"llm.cost.total": "lots"}, None),
        ({"gen_ai.usage.input_tokens": 10}, None),
    ],
)
def test_reported_cost_reads_the_instrumentations_cost_keys(attributes, expected):
    assert reported_cost(attributes) == expected


# --- overrides come before the library -----------------------------------------------------


def test_an_override_wins_over_the_library():
    override = PriceOverride(
        "gpt-4o", input_per_mtok=Decimal(1), output_per_mtok=Decimal(2), id="7"
    )
    usage = TokenUsage(1_000_000, 1_000_000, cache_read_input_tokens=500_000)

    result = price_llm_call("gpt-4o", "openai", usage, NOW, PriceOverrides([override]))

    # no cache price in the override: cached input costs the input price
    assert result.cost == Decimal("3")
    assert (result.price_source, result.price_version, result.model_id) == (
        "override", "override 7", "gpt-4o",
    )  # fmt: skip


def test_overrides_price_custom_models_by_pattern_provider_and_date():
    rows = [
        PriceOverride("ft:gpt-4o-mini:acme:*", Decimal("0.3"), Decimal("1.2"), id="any"),
        PriceOverride(
            "ft:gpt-4o-mini:acme:*", Decimal("0.5"), Decimal("2"),
            cache_read_per_mtok=Decimal("0.25"), provider="azure.ai.openai", id="azure",
        ),
        PriceOverride(
            "ft:gpt-4o-mini:acme:*", Decimal("0.6"), Decimal("2.4"), provider="azure",
            valid_from_ns=at(2026, 6, 1), id="azure-june",
        ),
        PriceOverride("ft:gpt-4o-mini:acme::special", Decimal(9), Decimal(9), id="exact"),
        PriceOverride("*", Decimal(0), Decimal(0), id="catch-all"),
    ]  # fmt: skip
    table = PriceOverrides(rows)
    usage = TokenUsage(2_000_000, 1_000_000, cache_read_input_tokens=1_000_000)

    def priced(model: str, provider: str | None, at_ns: int) -> tuple[str | None, Decimal | None]:
        result = price_llm_call(model, provider, usage, at_ns, table)
        return result.price_version, result.cost

    assert priced("ft:gpt-4o-mini:acme::x1", "openai", NOW) == ("override any", Decimal("1.8"))
    # provider-specific beats any provider; gcp/azure names compare as provider ids
    assert priced("FT:GPT-4o-mini:acme::x1", "azure", NOW) == ("override azure", Decimal("2.75"))
    assert priced("ft:gpt-4o-mini:acme::x1", "azure", at(2026, 7, 1)) == (
        "override azure-june", Decimal("3.6"),
    )  # fmt: skip
    assert priced("ft:gpt-4o-mini:acme::special", "azure", NOW) == ("override exact", Decimal(27))
    assert priced("llama-local", "ollama", NOW) == ("override catch-all", Decimal(0))


def test_an_override_not_yet_in_force_leaves_the_library_price():
    table = PriceOverrides(
        [PriceOverride("gpt-4o", Decimal(50), Decimal(50), valid_from_ns=at(2027, 1, 1))]
    )
    result = price_llm_call("gpt-4o", "openai", TokenUsage(1_000, 100), NOW, table)
    assert result.price_source == "genai-prices"
    assert result.cost == library_total(
        "gpt-4o", "openai", NOW, input_tokens=1_000, output_tokens=100
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"model": " "},
        {"input_per_mtok": Decimal(-1)},
        {"output_per_mtok": Decimal("NaN")},
        {"cache_read_per_mtok": 0.5},
    ],
)
def test_an_invalid_override_is_refused(changes):
    fields = {"model": "m", "input_per_mtok": Decimal(1), "output_per_mtok": Decimal(1)}
    with pytest.raises(ValueError):
        PriceOverride(**{**fields, **changes})


# --- prices at the call's date -----------------------------------------------------------------


def test_prices_follow_the_date_of_the_call():
    """o3's price fell on 2025-06-10; a call before it costs the old price."""
    usage = TokenUsage(1_000_000, 1_000_000)
    before, after = at(2025, 5, 1), at(2025, 7, 1)

    old = price_llm_call("o3", "openai", usage, before)
    new = price_llm_call("o3", "openai", usage, after)

    assert old.cost == library_total(
        "o3", "openai", before, input_tokens=10**6, output_tokens=10**6
    )
    assert new.cost == library_total("o3", "openai", after, input_tokens=10**6, output_tokens=10**6)
    assert old.cost is not None and new.cost is not None and old.cost > new.cost


def test_prices_follow_the_time_of_day_of_the_call():
    """DeepSeek's off-peak discount depends on the hour (UTC)."""
    usage = TokenUsage(1_000_000, 1_000_000)
    night, day = at(2026, 5, 4, hour=18), at(2026, 5, 4, hour=10)
    costs = [price_llm_call("deepseek-chat", "deepseek", usage, when).cost for when in (night, day)]
    assert costs == [
        library_total("deepseek-chat", "deepseek", when, input_tokens=10**6, output_tokens=10**6)
        for when in (night, day)
    ]
    assert costs[0] != costs[1]


def test_the_price_data_version_is_recorded():
    result = price_llm_call("gpt-4o", "openai", TokenUsage(10, 10), NOW)
    assert (
        result.price_version == price_data_version() == f"genai-prices {genai_prices.__version__}"
    )


# --- providers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "provider_id"), sorted(KNOWN_PROVIDER_NAMES.items()))
def test_provider_names_map_to_the_library_providers(name, provider_id):
    assert library_provider_id(name) == provider_id
    assert library_provider_id(f" {name.upper()} ") == provider_id


def test_every_semconv_provider_name_is_in_the_table():
    semconv = {
        "openai", "gcp.gen_ai", "gcp.vertex_ai", "gcp.gemini", "anthropic", "cohere",
        "azure.ai.inference", "azure.ai.openai", "ibm.watsonx.ai", "aws.bedrock", "perplexity",
        "x_ai", "deepseek", "groq", "mistral_ai",
    }  # fmt: skip
    assert semconv <= KNOWN_PROVIDER_NAMES.keys()
    assert library_provider_id(None) is None and library_provider_id("") is None


def test_a_provider_that_does_not_list_the_model_gives_way_to_the_model_name():
    """DeepSeek through the OpenAI SDK: the span says openai, the model is DeepSeek's."""
    result = price_llm_call("deepseek-chat", "openai", TokenUsage(1_000, 100), NOW)
    assert (result.provider_id, result.model_id) == ("deepseek", "deepseek-chat")


def test_the_provider_is_inferred_from_the_model_name():
    for model, provider_id in (
        ("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", "anthropic"),
        ("gemini-2.5-flash", "google"), ("anthropic/claude-sonnet-4-5", "anthropic"),
    ):  # fmt: skip
        result = price_llm_call(model, None, TokenUsage(1_000, 100), NOW)
        assert (result.cost_source, result.provider_id) == ("computed", provider_id), model


# --- roll-ups ----------------------------------------------------------------------------------


def test_a_run_shows_its_priced_sum_and_counts_its_unpriced_calls():
    priced = price_llm_call("gpt-4o", "openai", TokenUsage(1_000, 100), NOW)
    reported = price_llm_call(None, None, TokenUsage(), NOW, reported_cost=Decimal("0.5"))
    unknown = price_llm_call("acme-llm", "openai", TokenUsage(1_000, 100), NOW)
    assert priced.cost is not None

    run = roll_up([priced, reported, unknown])

    assert run == CostRollup(priced.cost + Decimal("0.5"), priced_calls=2, unpriced_calls=1)
    assert not run.complete
    assert roll_up([unknown]) == CostRollup(None, 0, 1)
    assert roll_up([]) == CostRollup(None, 0, 0)
    with_sub_run = roll_up([run, roll_up([unknown]), priced])
    assert with_sub_run == CostRollup(run.cost + priced.cost, 3, 2)  # type: ignore[operator]


# --- the captured fixtures -----------------------------------------------------------------


def test_the_llm_spans_of_the_captured_fixtures_are_priced_as_the_library_prices_them():
    """Real instrumentations' model and provider names: OpenAI Agents, LangGraph, smolagents
    and CrewAI (OpenInference) and OpenLLMetry name gpt-4o-mini under openai; Pydantic AI's
    offline FunctionModel names provider "function", which no price list knows; LlamaIndex
    streams its calls without usage, so they report no tokens."""
    from tests.mapping.otlp import scenario_dirs, scenario_facts

    outcomes: dict[str, set[tuple[str, str | None]]] = {}
    for scenario in scenario_dirs():
        for facts in scenario_facts(scenario):
            if facts.category != "llm":
                continue
            usage = TokenUsage(facts.input_tokens, facts.output_tokens)
            result = price_llm_call(facts.model, facts.provider, usage, facts.start_ns)
            framework = scenario.parent.name
            outcomes.setdefault(framework, set()).add((result.cost_source, result.unpriced_reason))
            if result.cost_source == "computed":
                # the library's price of the model the catalogue found ("openai/gpt-4o-mini"
                # from LiteLLM's model string is OpenAI's gpt-4o-mini)
                assert result.model_id is not None and result.provider_id is not None
                assert result.cost == library_total(
                    result.model_id, result.provider_id, facts.start_ns,
                    input_tokens=facts.input_tokens or 0, output_tokens=facts.output_tokens or 0,
                )  # fmt: skip
    assert outcomes == {
        "openai-agents": {("computed", None)},
        "openai-agents-js": {("computed", None)},
        "openai-js": {("computed", None)},
        "openai-v2-events": {("computed", None)},
        "vercel-ai": {("computed", None)},
        "vercel-ai-otel": {("computed", None)},
        "traceloop": {("computed", None)},
        "pydantic-ai": {("unpriced", "unknown provider")},
        "langgraph": {("computed", None)},
        "smolagents": {("computed", None)},
        "crewai": {("computed", None)},
        "llamaindex": {("unpriced", "no token counts")},
        "pydantic-ai-v6": {("computed", None)},
        "agno": {("computed", None)},
        # provider "strands-agents" names the framework: the model name decides the provider
        "strands": {("computed", None)},
        # LiteLLM's "openai/gpt-4o-mini" is read as vendor/model
        "google-adk": {("computed", None)},
        "openai-agents-v2": {("computed", None)},
    }
