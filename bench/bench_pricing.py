"""Micro-benchmark of mapping.pricing: µs per LLM call priced, and genai-prices' own call.

Run: python bench/bench_pricing.py. Prints figures (best of 5 rounds); asserts nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genai_prices import Usage, calc_price

from mapping.pricing import PriceOverride, PriceOverrides, TokenUsage, price_llm_call

AT_NS = 1_777_896_000_000_000_000  # 2026-05-04 12:00 UTC
CALLS = 20_000


def best_us(run: Callable[[], object], calls: int = CALLS, rounds: int = 5) -> float:
    run()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            run()
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def main() -> None:
    plain = TokenUsage(input_tokens=1_200, output_tokens=300)
    cached = TokenUsage(input_tokens=12_000, output_tokens=300, cache_read_input_tokens=9_000)
    overrides = PriceOverrides(
        [PriceOverride("ft:gpt-4o-mini:acme:*", Decimal("0.3"), Decimal("1.2"))]
    )
    cases = [
        ("gpt-4o-mini, openai, no cache", "gpt-4o-mini", "openai", plain, None, None),
        ("claude-sonnet-4-5, cache reads", "claude-sonnet-4-5", "anthropic", cached, None, None),
        ("o3 (price changed by date)", "o3", "openai", plain, None, None),
        ("deepseek-chat (off-peak hours)", "deepseek-chat", "deepseek", cached, None, None),
        ("override pattern hit", "ft:gpt-4o-mini:acme::x", "openai", plain, overrides, None),
        ("overrides, no match -> library", "gpt-4o-mini", "openai", plain, overrides, None),
        ("unknown model (cached miss)", "acme-llm", "openai", plain, None, None),
        ("reported cost", "gpt-4o", "openai", plain, None, Decimal("0.01")),
    ]
    print(f"{'case':<36} µs/call (best of 5 x {CALLS})")
    for name, model, provider, usage, table, reported in cases:

        def run(model=model, provider=provider, usage=usage, table=table, reported=reported):
            return price_llm_call(model, provider, usage, AT_NS, table, reported_cost=reported)

        print(f"{name:<36} {best_us(run):7.2f}")

    names = iter(range(10**9))
    first = best_us(
        lambda: price_llm_call(f"new-model-{next(names)}", "openai", plain, AT_NS), calls=2_000
    )
    print(f"{'first lookup of a new model name':<36} {first:7.2f}")

    when = datetime.fromtimestamp(AT_NS / 1e9, UTC)
    usage = Usage(input_tokens=12_000, output_tokens=300, cache_read_tokens=9_000)
    library = best_us(
        lambda: calc_price(usage, "claude-sonnet-4-5", provider_id="anthropic",
                           genai_request_timestamp=when),
        calls=5_000,
    )  # fmt: skip
    print(f"{'genai-prices calc_price (reference)':<36} {library:7.2f}")


if __name__ == "__main__":
    main()
