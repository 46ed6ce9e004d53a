"""Price overrides: prices an operator sets for custom and fine-tuned models, consulted first.

An override row names a model exactly (``ft:gpt-4o-mini:acme::abc``) or by a pattern with
``*``, ``?`` or ``[...]`` (``ft:gpt-4o-mini:acme:*``), case-insensitively, optionally only
for one provider (compared as genai-prices provider ids when the name maps to one, so
``gcp.vertex_ai`` and ``google`` are the same provider), and applies from ``valid_from_ns``
on. When several rows match a call, the most specific wins: an exact name before a
pattern, a longer pattern before a shorter one, then a row for the call's provider before a
row for any provider; among rows of the same model and provider, the latest one in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase
from functools import lru_cache

from mapping.pricing.catalogue import TokenRates
from mapping.pricing.providers import library_provider_id, normalized

__all__ = ["PriceOverride", "PriceOverrides"]

_PATTERN_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """One override row; prices are USD per million tokens."""

    model: str  # an exact model name, or a pattern with * ? [...]
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal | None = None  # None: cache reads cost the input price
    cache_write_per_mtok: Decimal | None = None  # None: cache writes cost the input price
    provider: str | None = None  # None: any provider
    valid_from_ns: int | None = None  # None: always
    id: str | None = None  # the row's id, recorded as the price version

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ValueError("an override needs a model name or pattern")
        for name in ("input_per_mtok", "output_per_mtok"):
            _check_price(name, getattr(self, name))
        for name in ("cache_read_per_mtok", "cache_write_per_mtok"):
            value = getattr(self, name)
            if value is not None:
                _check_price(name, value)

    @property
    def is_pattern(self) -> bool:
        return not _PATTERN_CHARACTERS.isdisjoint(self.model)

    @property
    def rates(self) -> TokenRates:
        return TokenRates(
            input=self.input_per_mtok,
            output=self.output_per_mtok,
            cache_read=self.cache_read_per_mtok,
            cache_write=self.cache_write_per_mtok,
        )

    @property
    def version(self) -> str:
        return f"override {self.id}" if self.id is not None else f"override {self.model}"

    def matches(self, model_key: str, provider_key: str | None) -> bool:
        if self.provider is not None and _provider_key(self.provider) != provider_key:
            return False
        pattern = self.model.strip().lower()
        return fnmatchcase(model_key, pattern) if self.is_pattern else model_key == pattern

    def specificity(self) -> tuple[bool, int, bool, int]:
        literal_length = sum(1 for char in self.model if char not in _PATTERN_CHARACTERS)
        valid_from = self.valid_from_ns if self.valid_from_ns is not None else -1
        return (not self.is_pattern, literal_length, self.provider is not None, valid_from)


def _check_price(name: str, value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be a finite, non-negative Decimal, got {value!r}")


def _provider_key(provider: str | None) -> str | None:
    if not provider:
        return None
    return library_provider_id(provider) or normalized(provider)


class PriceOverrides:
    """The override table, indexed for lookups (build it once per change of the table)."""

    def __init__(self, rows: Iterable[PriceOverride] = ()) -> None:
        self.rows: tuple[PriceOverride, ...] = tuple(rows)
        self._candidates = lru_cache(maxsize=4096)(self._matching_rows)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def find(self, model: str, provider: str | None, at_ns: int) -> PriceOverride | None:
        """The override in force for this model and provider at ``at_ns``, if any."""
        for row in self._candidates(model.strip().lower(), provider):
            if row.valid_from_ns is None or row.valid_from_ns <= at_ns:
                return row
        return None

    def _matching_rows(self, model_key: str, provider: str | None) -> tuple[PriceOverride, ...]:
        provider_key = _provider_key(provider)
        matching = [row for row in self.rows if row.matches(model_key, provider_key)]
        return tuple(sorted(matching, key=PriceOverride.specificity, reverse=True))
