"""Bodies and answers of the admin price API (api/prices.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.params import TIME_DESCRIPTION
from api.schemas import Timestamp
from storage.prices import MAX_MODEL_CHARS, MAX_PRICE_PER_MTOK, MAX_PROVIDER_CHARS

Price = Annotated[
    Decimal,
    Field(
        ge=0,
        le=MAX_PRICE_PER_MTOK,
        allow_inf_nan=False,
        description="USD per million tokens: a JSON number, or a string for exact decimals",
    ),
]


class PriceOverrideBody(BaseModel):
    """A price override to set. One exists per model (case-insensitive), provider and
    valid_from: setting the same again replaces its prices."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1,
        max_length=MAX_MODEL_CHARS,
        description="the model as spans name it (gen_ai.response.model, else the request "
        "model), or a pattern with * ? [...]; case-insensitive",
    )
    provider: str | None = Field(
        default=None,
        max_length=MAX_PROVIDER_CHARS,
        description="only calls to this provider (gen_ai.provider.name, gen_ai.system or "
        "genai-prices ids: 'azure.ai.openai' = 'azure'); null: any provider",
    )
    input_per_mtok: Price
    output_per_mtok: Price
    cached_input_per_mtok: Price | None = Field(
        default=None, description="input tokens read from a cache; null: the input price"
    )
    cache_write_per_mtok: Price | None = Field(
        default=None, description="input tokens written to a cache; null: the input price"
    )
    valid_from: str | StrictInt | None = Field(
        default=None,
        description="calls that started at or after this instant; null: every call. "
        + TIME_DESCRIPTION,
    )


class PriceOverride(BaseModel):
    id: int
    model: str
    provider: str | None = Field(description="null: any provider")
    input_per_mtok: float
    cached_input_per_mtok: float | None = Field(description="null: the input price")
    cache_write_per_mtok: float | None = Field(description="null: the input price")
    output_per_mtok: float
    valid_from: Timestamp | None = Field(description="null: every call")
    created_at: Timestamp = Field(description="when it was set (or last replaced)")


class PriceOverrideList(BaseModel):
    items: list[PriceOverride] = Field(description="the project's overrides, by id")


class PriceOverrideChange(BaseModel):
    override: PriceOverride = Field(description="the override set, or the one deleted")
    replaced: bool = Field(
        description="set: an override of the same model, provider and valid_from was replaced"
    )
    rederive_queued: int = Field(
        description="stored traces whose runs called a model the override matches, queued "
        "to be derived (and so priced) again in the background"
    )
