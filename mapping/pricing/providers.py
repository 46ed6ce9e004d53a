"""Provider names as spans spell them, mapped to genai-prices provider ids.

Spans name the provider in ``gen_ai.provider.name`` (OpenTelemetry GenAI), the older
``gen_ai.system``, or OpenInference's ``llm.provider`` / ``llm.system``. The names
genai-prices does not recognise by itself (its ids, and its own matching of names that
contain "openai", "anthropic", "bedrock", "vertex", "gemini", ...) are listed here; a name
that maps to nothing is unknown, and the model name then decides the provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

# Only the names genai-prices would miss or map to the wrong provider; every other name is
# looked up in genai-prices (its provider ids and its own name matching).
PROVIDER_ALIASES: Mapping[str, str] = {
    # OpenTelemetry GenAI gen_ai.provider.name (and the deprecated gen_ai.system values)
    "azure.ai.openai": "azure",  # genai-prices would read "openai" in it: OpenAI's provider
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "gcp.gen_ai": "google",
    "x_ai": "x-ai",
}

# What each documented provider name maps to: the table the tests check.
KNOWN_PROVIDER_NAMES: Mapping[str, str | None] = {
    # gen_ai.provider.name, OpenTelemetry GenAI semantic conventions
    "openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "ibm.watsonx.ai": None,  # not in genai-prices
    # gen_ai.system values deprecated since
    "vertex_ai": "google",
    "gemini": "google",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "xai": "x-ai",
    # OpenInference llm.provider
    "mistralai": "mistral",
    "google": "google",
    "aws": "aws",
    "azure": "azure",
    "fireworks": "fireworks",
    "moonshot": "moonshotai",
    "cerebras": "cerebras",
    "together": "together",
    "meta": "meta",
    "ollama": None,  # local models have no price list
    # OpenInference llm.system
    "vertexai": "google",
    "amazon": "aws",
    "ai21": None,
    # Pydantic AI's system names
    "google-gla": "google",
    "google-vertex": "google",
    "bedrock": "aws",
    "mistral": "mistral",
    # OpenLLMetry spells some of them capitalised
    "Anthropic": "anthropic",
    "OpenAI": "openai",
}


def normalized(name: str) -> str:
    return name.strip().lower()


@lru_cache(maxsize=1024)
def library_provider_id(name: str | None) -> str | None:
    """The genai-prices provider id of a provider name from a span, or None if unknown."""
    if not name:
        return None
    key = normalized(name)
    alias = PROVIDER_ALIASES.get(key)
    if alias is not None:
        return alias
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

    provider = find_provider_by_id(get_snapshot().providers, key)
    return provider.id if provider is not None else None
