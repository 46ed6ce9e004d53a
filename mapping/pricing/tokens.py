"""Which tokens a call is billed for: the span's counts made disjoint.

The rule. Every convention AgentGuide reads counts *all* input in its input tokens and *all*
output in its output tokens:

- OpenTelemetry GenAI: ``gen_ai.usage.cache_read.input_tokens`` (and the cache creation
  count) "SHOULD be included in ``gen_ai.usage.input_tokens``"; reasoning tokens are part of
  ``gen_ai.usage.output_tokens``. OpenLLMetry writes Anthropic's counts this way too
  (input = input + cache read + cache creation).
- OpenAI: ``prompt_tokens`` include ``prompt_tokens_details.cached_tokens``;
  ``completion_tokens`` include ``completion_tokens_details.reasoning_tokens``.
- OpenInference: ``llm.token_count.prompt`` includes ``prompt_details.cache_read`` /
  ``cache_write`` (prompt + completion = total).
- genai-prices itself takes ``input_tokens`` as the total with the cache counts inside it.

Some instrumentations pass Anthropic's own counts through unchanged (Anthropic's
``input_tokens`` exclude cache reads and writes; Gemini's candidate tokens exclude thoughts),
so the counts are checked before they are trusted:

1. Input includes the cache counts, unless the cache counts exceed the input (impossible if
   included), or the span's total equals input + output + cache (+ reasoning) and not
   input + output (+ reasoning). Then the cache counts are added to the input.
2. Output includes the reasoning count, by the same test with the reasoning count.
3. ``input_includes_cache`` / ``output_includes_reasoning`` (when the caller knows the
   instrumentation) decide instead, except where the counts make them impossible.

Each token is then billed once: uncached input at the input rate, cache reads at the cache
read rate, cache writes at the cache write rate, output (reasoning included) at the output
rate. Negative counts are treated as absent; a call with neither input nor output nor cache
counts has no token counts.
"""

from __future__ import annotations

from mapping.pricing.model import BilledTokens, TokenUsage

_READINGS = ((True, True), (True, False), (False, True), (False, False))


def _count(value: int | None) -> int | None:
    return value if type(value) is int and value >= 0 else None


def billed_tokens(
    usage: TokenUsage,
    *,
    input_includes_cache: bool | None = None,
    output_includes_reasoning: bool | None = None,
) -> BilledTokens | None:
    """The disjoint billed counts of ``usage``, or None when it reports no token counts."""
    input_count = _count(usage.input_tokens)
    output_count = _count(usage.output_tokens)
    cache_read = _count(usage.cache_read_input_tokens) or 0
    cache_write = _count(usage.cache_write_input_tokens) or 0
    if input_count is None and output_count is None and not cache_read and not cache_write:
        return None
    reasoning = _count(usage.reasoning_output_tokens) or 0
    reported_input = input_count or 0
    reported_output = output_count or 0
    cache = cache_read + cache_write
    if not cache and not reasoning:
        return BilledTokens(reported_input, 0, 0, reported_output, 0, True, True)

    includes_cache = _reading(
        extra=cache,
        impossible=cache > reported_input,
        stated=input_includes_cache,
        from_total=_from_total(usage, reported_input, reported_output, cache, reasoning, 0),
    )
    includes_reasoning = _reading(
        extra=reasoning,
        impossible=reasoning > reported_output,
        stated=output_includes_reasoning,
        from_total=_from_total(usage, reported_input, reported_output, cache, reasoning, 1),
    )
    return BilledTokens(
        uncached_input=reported_input - cache if includes_cache else reported_input,
        cache_read=cache_read,
        cache_write=cache_write,
        output=reported_output if includes_reasoning else reported_output + reasoning,
        reasoning=reasoning,
        input_included_cache=includes_cache,
        output_included_reasoning=includes_reasoning,
    )


def _reading(extra: int, impossible: bool, stated: bool | None, from_total: bool | None) -> bool:
    """Whether the reported count includes ``extra``: the convention, unless shown otherwise."""
    if extra == 0:
        return True
    if impossible:
        return False
    if stated is not None:
        return stated
    return True if from_total is None else from_total


def _from_total(
    usage: TokenUsage, input_count: int, output_count: int, cache: int, reasoning: int, side: int
) -> bool | None:
    """What the reported total says about one side (0: input, 1: output), if it decides it.

    Each of the four readings (input with or without cache, output with or without
    reasoning) predicts a total; the total decides a side when every reading that predicts
    it agrees on that side.
    """
    total = _count(usage.total_tokens)
    if total is None:
        return None
    agreeing = {
        reading[side]
        for reading in _READINGS
        if total
        == input_count
        + output_count
        + (0 if reading[0] else cache)
        + (0 if reading[1] else reasoning)
    }
    return agreeing.pop() if len(agreeing) == 1 else None
