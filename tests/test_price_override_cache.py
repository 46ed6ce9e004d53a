"""The derivers' cache of the price overrides: a project's table is built once per version and
rebuilt when a writer bumps the version, whatever another project does."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import psycopg

from storage.database import apply_migrations
from storage.prices import (
    PriceOverrideCache,
    PriceOverrideInput,
    delete_price_override,
    list_price_overrides,
    set_price_override,
)

DEFAULT = 1
JULY_NS = 1_719_792_000 * 10**9 + 123_456_789  # 2024-07-01T00:00:00.123456789Z


def test_a_project_table_is_rebuilt_only_when_its_version_moves(fresh_database_url: str) -> None:
    apply_migrations(fresh_database_url)
    asyncio.run(_check_cache(fresh_database_url))


async def _check_cache(database_url: str) -> None:
    cache = PriceOverrideCache()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        row = await (
            await conn.execute("INSERT INTO projects (name) VALUES ('other') RETURNING id")
        ).fetchone()
        assert row is not None
        other = int(row[0])
        assert await cache(conn, DEFAULT) is None

        first_change = await set_price_override(
            conn, DEFAULT, PriceOverrideInput("acme-*", Decimal("0.5"), Decimal(2))
        )
        first = await cache(conn, DEFAULT)
        assert first is not None
        assert [(r.model, r.id) for r in first.rows] == [("acme-*", str(first_change.override.id))]
        assert await cache(conn, DEFAULT) is first  # same version: the same table, not reloaded

        await set_price_override(conn, other, PriceOverrideInput("x", Decimal(1), Decimal(1)))
        assert await cache(conn, DEFAULT) is first  # another project's change
        other_table = await cache(conn, other)
        assert other_table is not None and [r.model for r in other_table.rows] == ["x"]

        second_change = await set_price_override(
            conn,
            DEFAULT,
            PriceOverrideInput("acme-1", Decimal(3), Decimal(4), valid_from_ns=JULY_NS),
        )
        second = await cache(conn, DEFAULT)
        assert second is not None and second is not first
        found = second.find("ACME-1", None, JULY_NS)
        assert found is not None and found.id == str(second_change.override.id)
        before = second.find("acme-1", None, JULY_NS - 1000)  # stored to the microsecond
        assert before is not None and before.id == str(first_change.override.id)

        await delete_price_override(conn, first_change.override.id)
        await delete_price_override(conn, second_change.override.id)
        assert await cache(conn, DEFAULT) is None
        assert await list_price_overrides(conn, DEFAULT) == []


def test_a_row_written_around_the_checks_is_ignored(fresh_database_url: str) -> None:
    apply_migrations(fresh_database_url)
    asyncio.run(_check_bad_row(fresh_database_url))


async def _check_bad_row(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO price_overrides (project_id, model, input_per_mtok, output_per_mtok)"
            " VALUES (1, '   ', 1, 1)"
        )
        await set_price_override(conn, DEFAULT, PriceOverrideInput("ok", Decimal(1), Decimal(1)))
        table = await PriceOverrideCache()(conn, DEFAULT)
        assert table is not None and [r.model for r in table.rows] == ["ok"]
