"""Price overrides in the database: set, list and delete them (CLI and admin API), and the
derivers' cache of each project's table.

An override prices a model (an exact name or a ``*``/``?``/``[...]`` pattern,
case-insensitive), optionally for one provider, from a date on, in USD per million tokens;
``mapping.pricing`` consults the overrides before genai-prices' table. One row per project,
model, provider and start date: setting the same again replaces its prices.

Every change bumps the project's row in ``price_override_versions`` in its transaction; a
deriver reads that version in each batch and reloads the project's overrides only when it
moved. Prices apply at derivation, so a change also queues, in the background, the stored
traces it may reprice: those with a run that called a model the changed override matches
(whatever the provider, from the override's start on).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg

from mapping.pricing import PriceOverride, PriceOverrides

logger = logging.getLogger(__name__)

MAX_MODEL_CHARS = 256  # longer model names are never looked up (mapping.pricing.price)
MAX_PROVIDER_CHARS = 128
MAX_PRICE_PER_MTOK = Decimal(1_000_000)

_COLUMNS = (
    "o.id, o.project_id, p.name, o.model, o.provider, o.input_per_mtok, o.cached_input_per_mtok,"
    " o.cache_write_per_mtok, o.output_per_mtok, o.valid_from, o.created_at"
)
_SELECT = f"SELECT {_COLUMNS} FROM price_overrides o JOIN projects p ON p.id = o.project_id"

_UPSERT = """
INSERT INTO price_overrides (project_id, model, provider, input_per_mtok, cached_input_per_mtok,
                             cache_write_per_mtok, output_per_mtok, valid_from)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (project_id, lower(model), coalesce(provider, ''), coalesce(valid_from, '-infinity'))
DO UPDATE SET model = EXCLUDED.model, input_per_mtok = EXCLUDED.input_per_mtok,
    cached_input_per_mtok = EXCLUDED.cached_input_per_mtok,
    cache_write_per_mtok = EXCLUDED.cache_write_per_mtok,
    output_per_mtok = EXCLUDED.output_per_mtok, created_at = now()
RETURNING id, (xmax <> 0) AS replaced
"""

_DELETE = "DELETE FROM price_overrides WHERE id = %s AND project_id = %s"

_BUMP_VERSION = """
INSERT INTO price_override_versions (project_id, version) VALUES (%s, 1)
ON CONFLICT (project_id) DO UPDATE SET version = price_override_versions.version + 1
"""

_SELECT_VERSION = "SELECT version FROM price_override_versions WHERE project_id = %s"

_SELECT_PRICES = """
SELECT id, model, provider, input_per_mtok, cached_input_per_mtok, cache_write_per_mtok,
       output_per_mtok, valid_from
FROM price_overrides WHERE project_id = %s ORDER BY id
"""

_PROJECT_ID = "SELECT id FROM projects WHERE name = %s"

_PROJECT_MODELS = """
SELECT DISTINCT m FROM runs r CROSS JOIN LATERAL unnest(r.models) AS m WHERE r.project_id = %s
"""

_QUEUE_TRACES = """
INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns, background)
SELECT t.trace_id, t.project_id, t.spans_from_ns, t.spans_to_ns, true
FROM traces t
WHERE t.project_id = %(project_id)s
  AND (%(since_ns)s::int8 IS NULL OR t.spans_to_ns >= %(since_ns)s::int8)
  AND t.trace_id IN (SELECT r.trace_id FROM runs r
                     WHERE r.project_id = %(project_id)s AND r.models && %(models)s::text[])
"""


class InvalidPriceOverride(ValueError):
    """An override that cannot be stored; ``field`` names the value at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownProject(LookupError):
    """A project name no key or data has created."""


@dataclass(frozen=True, slots=True)
class PriceOverrideInput:
    """An override to set; prices in USD per million tokens."""

    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None = None  # None: cache reads cost the input price
    cache_write_per_mtok: Decimal | None = None  # None: cache writes cost the input price
    provider: str | None = None  # None: any provider
    valid_from_ns: int | None = None  # Unix ns; None: always


@dataclass(frozen=True, slots=True)
class StoredPriceOverride:
    id: int
    project_id: int
    project: str
    model: str
    provider: str | None
    input_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None
    cache_write_per_mtok: Decimal | None
    output_per_mtok: Decimal
    valid_from_ns: int | None
    created_at_ns: int


@dataclass(frozen=True, slots=True)
class PriceChange:
    """What setting or deleting an override did."""

    override: StoredPriceOverride
    replaced: bool  # set: an override of the same model, provider and start was replaced
    rederive_queued: int  # stored traces queued to be derived (and priced) again


def price_value(value: Any, field: str, *, optional: bool = False) -> Decimal | None:
    """A price per million tokens from text or a number: finite, 0 to 1,000,000."""
    if value is None:
        if optional:
            return None
        raise InvalidPriceOverride(field, "is required")
    if isinstance(value, bool):
        raise InvalidPriceOverride(field, "must be a number")
    try:
        price = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise InvalidPriceOverride(field, f"must be a number, not {str(value)[:40]!r}") from None
    if not price.is_finite() or price < 0 or price > MAX_PRICE_PER_MTOK:
        raise InvalidPriceOverride(field, "must be a number from 0 to 1000000 (USD per 1M tokens)")
    return price


def _check_text(value: str | None, field: str, limit: int, *, required: bool) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InvalidPriceOverride(field, "must not be empty")
        return None
    if len(value) > limit:
        raise InvalidPriceOverride(field, f"is longer than {limit} characters")
    if not value.isprintable():
        raise InvalidPriceOverride(field, "must be printable text (no control characters)")
    return value.strip()


def check_override(item: PriceOverrideInput) -> PriceOverrideInput:
    """The override as it will be stored (names stripped), or InvalidPriceOverride."""
    model = _check_text(item.model, "model", MAX_MODEL_CHARS, required=True)
    provider = _check_text(item.provider, "provider", MAX_PROVIDER_CHARS, required=False)
    assert model is not None
    checked = PriceOverrideInput(
        model=model,
        provider=provider,
        input_per_mtok=price_value(item.input_per_mtok, "input_per_mtok"),  # type: ignore[arg-type]
        output_per_mtok=price_value(item.output_per_mtok, "output_per_mtok"),  # type: ignore[arg-type]
        cached_input_per_mtok=price_value(
            item.cached_input_per_mtok, "cached_input_per_mtok", optional=True
        ),
        cache_write_per_mtok=price_value(
            item.cache_write_per_mtok, "cache_write_per_mtok", optional=True
        ),
        valid_from_ns=item.valid_from_ns,
    )
    _as_override(checked, None)  # the pricing's own checks
    return checked


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _moment(ns: int | None) -> datetime | None:
    """A timestamptz (microseconds) of Unix nanoseconds."""
    return None if ns is None else _EPOCH + timedelta(microseconds=ns // 1000)


def _stored(row: tuple[Any, ...]) -> StoredPriceOverride:
    override_id, project_id, project, model, provider, price_in, cached, write, price_out = row[:9]
    created_at = _ns(row[10])
    assert created_at is not None
    return StoredPriceOverride(
        override_id, project_id, project, model, provider, price_in, cached, write, price_out,
        _ns(row[9]), created_at,
    )  # fmt: skip


def _as_override(item: PriceOverrideInput, override_id: int | None) -> PriceOverride:
    return PriceOverride(
        model=item.model,
        input_per_mtok=item.input_per_mtok,
        output_per_mtok=item.output_per_mtok,
        cache_read_per_mtok=item.cached_input_per_mtok,
        cache_write_per_mtok=item.cache_write_per_mtok,
        provider=item.provider,
        valid_from_ns=item.valid_from_ns,
        id=None if override_id is None else str(override_id),
    )


async def project_id_of(conn: psycopg.AsyncConnection[Any], name: str) -> int:
    """The id of the project named ``name``; UnknownProject when there is none."""
    row = await (await conn.execute(_PROJECT_ID, (name,))).fetchone()
    if row is None:
        raise UnknownProject(f"there is no project named {name!r}")
    return int(row[0])


async def list_price_overrides(
    conn: psycopg.AsyncConnection[Any], project_id: int | None = None
) -> list[StoredPriceOverride]:
    """The overrides of a project (of every project when None), by id."""
    query = _SELECT + (" WHERE o.project_id = %s" if project_id is not None else "")
    cursor = await conn.execute(
        query + " ORDER BY o.id", (project_id,) if project_id is not None else ()
    )
    return [_stored(row) for row in await cursor.fetchall()]


async def get_price_override(
    conn: psycopg.AsyncConnection[Any], override_id: int
) -> StoredPriceOverride | None:
    cursor = await conn.execute(_SELECT + " WHERE o.id = %s", (override_id,))
    row = await cursor.fetchone()
    return None if row is None else _stored(row)


async def set_price_override(
    conn: psycopg.AsyncConnection[Any], project_id: int, item: PriceOverrideInput
) -> PriceChange:
    """Store ``item`` for the project (replacing the override of the same model, provider and
    start), and queue the traces it may reprice; one transaction."""
    item = check_override(item)
    async with conn.transaction():
        cursor = await conn.execute(
            _UPSERT,
            (
                project_id,
                item.model,
                item.provider,
                item.input_per_mtok,
                item.cached_input_per_mtok,
                item.cache_write_per_mtok,
                item.output_per_mtok,
                _moment(item.valid_from_ns),
            ),
        )
        row = await cursor.fetchone()
        assert row is not None
        override_id, replaced = int(row[0]), bool(row[1])
        await conn.execute(_BUMP_VERSION, (project_id,))
        queued = await _queue_repricing(conn, project_id, item)
        stored = await get_price_override(conn, override_id)
    assert stored is not None
    return PriceChange(stored, replaced, queued)


async def delete_price_override(
    conn: psycopg.AsyncConnection[Any], override_id: int, project_id: int | None = None
) -> PriceChange | None:
    """Delete an override (only of ``project_id`` when given) and queue the traces it priced;
    None when there is no such override."""
    async with conn.transaction():
        stored = await get_price_override(conn, override_id)
        if stored is None or (project_id is not None and stored.project_id != project_id):
            return None
        await conn.execute(_DELETE, (override_id, stored.project_id))
        await conn.execute(_BUMP_VERSION, (stored.project_id,))
        queued = await _queue_repricing(
            conn,
            stored.project_id,
            PriceOverrideInput(
                model=stored.model,
                input_per_mtok=stored.input_per_mtok,
                output_per_mtok=stored.output_per_mtok,
                valid_from_ns=stored.valid_from_ns,
            ),
        )
    return PriceChange(stored, False, queued)


async def _queue_repricing(
    conn: psycopg.AsyncConnection[Any], project_id: int, item: PriceOverrideInput
) -> int:
    """Queue for background re-derivation the project's traces with a run that called a model
    the override's name or pattern matches (any provider), from its start on."""
    matcher = PriceOverride(model=item.model, input_per_mtok=Decimal(0), output_per_mtok=Decimal(0))
    cursor = await conn.execute(_PROJECT_MODELS, (project_id,))
    models = [
        name for (name,) in await cursor.fetchall() if matcher.matches(name.strip().lower(), None)
    ]
    if not models:
        return 0
    cursor = await conn.execute(
        _QUEUE_TRACES,
        {"project_id": project_id, "since_ns": item.valid_from_ns, "models": models},
    )
    return cursor.rowcount


class PriceOverrideCache:
    """The derivers' view of the overrides: each project's table, built into a
    ``PriceOverrides`` (whose lookups it caches) once per version of the table.

    Called once per project and batch, in the batch's transaction: one single-row read of the
    project's version, and a reload only when it moved. Checking in every batch rather than
    now and then means no trace is derived with a table older than its batch: a trace first
    stored just after a change (not yet there to be queued for repricing) still gets the new
    prices.
    """

    def __init__(self) -> None:
        self._tables: dict[int, tuple[int, PriceOverrides]] = {}

    async def __call__(
        self, conn: psycopg.AsyncConnection[Any], project_id: int
    ) -> PriceOverrides | None:
        row = await (await conn.execute(_SELECT_VERSION, (project_id,))).fetchone()
        if row is None:
            self._tables.pop(project_id, None)
            return None
        version = int(row[0])
        loaded = self._tables.get(project_id)
        if loaded is None or loaded[0] != version:
            loaded = (version, await self._load(conn, project_id))
            self._tables[project_id] = loaded
        return loaded[1] or None

    @staticmethod
    async def _load(conn: psycopg.AsyncConnection[Any], project_id: int) -> PriceOverrides:
        rows = []
        cursor = await conn.execute(_SELECT_PRICES, (project_id,))
        for (
            override_id,
            model,
            provider,
            price_in,
            cached,
            write,
            price_out,
            since,
        ) in await cursor.fetchall():
            try:
                rows.append(
                    _as_override(
                        PriceOverrideInput(
                            model, price_in, price_out, cached, write, provider, _ns(since)
                        ),
                        override_id,
                    )
                )
            except ValueError as exc:  # written around the checks (by hand, in SQL)
                logger.warning(
                    "price override %s of project %s ignored: %s", override_id, project_id, exc
                )
        return PriceOverrides(rows)
