"""Day partitions of the big tables: created ahead of the data, dropped by retention.

``spans``, ``runs`` and ``run_search`` (a run's search document) are partitioned by the day
(UTC) of their start time, ``steps`` by the day of their run's start, so a run's steps share
one partition. A row of a day that has no partition yet lands in the table's default
partition; maintenance creates the partitions of the days it finds there (within bounds, so
a sender with random timestamps cannot make thousands) and moves those rows in. Partitions
are created as plain tables and attached, which never blocks ingest or queries on the parent
(CREATE ... PARTITION OF would).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from storage.locks import lock_partition_changes

logger = logging.getLogger(__name__)

NS_PER_DAY = 86_400 * 10**9
PARTITIONED_TABLES: dict[str, str] = {
    "spans": "start_ns",
    "runs": "start_ns",
    "steps": "run_start_ns",
    "run_search": "start_ns",  # search documents, one per run (migration 0012)
}
DAYS_AHEAD = 2  # partitions created for the coming days
DAYS_BEHIND = 7  # and for the past days (late data, clock skew)
MAX_BACKFILL_DAYS = 400  # a day older than this gets no partition of its own
MAX_FUTURE_DAYS = 7  # nor does one further ahead than this

_NAME = re.compile(r"^(?P<table>[a-z_]+)_d(?P<day>\d{8})$")


def day_of(ns: int) -> int:
    """The day number (days since 1970-01-01 UTC) of a time in Unix nanoseconds."""
    return ns // NS_PER_DAY


def today() -> int:
    return day_of(time.time_ns())


def partition_name(table: str, day: int) -> str:
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    return f"{table}_d{date:%Y%m%d}"


def table_and_day(name: str) -> tuple[str, int] | None:
    """The table and day of a day partition's name; None for another name."""
    match = _NAME.match(name)
    if match is None:
        return None
    date = dt.datetime.strptime(match["day"], "%Y%m%d").date()
    return match["table"], (date - dt.date(1970, 1, 1)).days


def day_bounds(day: int) -> tuple[int, int]:
    return day * NS_PER_DAY, (day + 1) * NS_PER_DAY


@dataclass(frozen=True, slots=True)
class PartitionedDays:
    """The day partitions each partitioned table has."""

    days: dict[str, frozenset[int]]

    def missing(self, table: str, wanted: Iterable[int]) -> list[int]:
        have = self.days.get(table, frozenset())
        return sorted({day for day in wanted if day not in have})

    def all_days(self) -> frozenset[int]:
        return frozenset(day for days in self.days.values() for day in days)


_LIST_PARTITIONS = """
SELECT parent.relname, child.relname
FROM pg_inherits
JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
JOIN pg_class child ON child.oid = pg_inherits.inhrelid
JOIN pg_namespace ns ON ns.oid = parent.relnamespace
WHERE ns.nspname = current_schema() AND parent.relname = ANY(%s)
"""


async def list_partitions(conn: psycopg.AsyncConnection[Any]) -> PartitionedDays:
    cursor = await conn.execute(_LIST_PARTITIONS, (list(PARTITIONED_TABLES),))
    days: dict[str, set[int]] = {table: set() for table in PARTITIONED_TABLES}
    for parent, child in await cursor.fetchall():
        parsed = table_and_day(child)
        if parsed is not None and parsed[0] == parent:
            days[parent].add(parsed[1])
    return PartitionedDays({table: frozenset(found) for table, found in days.items()})


async def create_partition(conn: psycopg.AsyncConnection[Any], table: str, day: int) -> None:
    """Create and attach the partition of ``table`` for ``day``, moving in the rows of that
    day that wait in the default partition. One transaction; the caller must not hold one."""
    column = PARTITIONED_TABLES[table]
    name = partition_name(table, day)
    low, high = day_bounds(day)
    default = sql.Identifier(f"{table}_default")
    ident = sql.Identifier(name)
    async with conn.transaction():
        await lock_partition_changes(conn)
        exists = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        row = await exists.fetchone()
        if row is not None and row[0]:
            return
        await conn.execute(
            sql.SQL(
                "CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING COMPRESSION"
                " INCLUDING STORAGE, CONSTRAINT {check} CHECK ({column} >= {low} AND"
                " {column} < {high}))"
            ).format(
                name=ident,
                parent=sql.Identifier(table),
                check=sql.Identifier(f"{name}_range"),
                column=sql.Identifier(column),
                low=sql.Literal(low),
                high=sql.Literal(high),
            )
        )
        # Rows of this day in the default partition must move before the range can attach.
        await conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(default))
        moved = await conn.execute(
            sql.SQL(
                "WITH gone AS (DELETE FROM {default} WHERE {column} >= %s AND {column} < %s"
                " RETURNING *) INSERT INTO {name} SELECT * FROM gone"
            ).format(default=default, column=sql.Identifier(column), name=ident),
            (low, high),
        )
        await conn.execute(
            sql.SQL(
                "ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ({low}) TO ({high})"
            ).format(
                parent=sql.Identifier(table),
                name=ident,
                low=sql.Literal(low),
                high=sql.Literal(high),
            )
        )
        await conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                ident, sql.Identifier(f"{name}_range")
            )
        )
    if moved.rowcount:
        logger.info("partition %s created; %d rows moved in from the default", name, moved.rowcount)
    else:
        logger.debug("partition %s created", name)


def wanted_days(now_day: int) -> range:
    return range(now_day - DAYS_BEHIND, now_day + DAYS_AHEAD + 1)


def may_have_partition(day: int, now_day: int) -> bool:
    return now_day - MAX_BACKFILL_DAYS <= day <= now_day + MAX_FUTURE_DAYS


_DEFAULT_DAYS = "SELECT DISTINCT ({column} / %s) FROM {default} LIMIT 1000"


async def ensure_partitions(
    conn: psycopg.AsyncConnection[Any],
    days: Iterable[int] | None = None,
    *,
    from_defaults: bool = True,
) -> list[str]:
    """Create the missing partitions of the days around today, of the given ``days`` and
    (``from_defaults``) of the days that have rows waiting in a default partition, within the
    bounds; the names created. The connection must be in autocommit mode (each partition is a
    transaction)."""
    now_day = today()
    wanted = set(wanted_days(now_day))
    if days is not None:
        wanted.update(day for day in days if may_have_partition(day, now_day))
    existing = await list_partitions(conn)
    created: list[str] = []
    # A day found waiting in any default partition gets its partition in every table: spans
    # of a day make runs and steps of that day.
    for table, column in PARTITIONED_TABLES.items() if from_defaults else ():
        cursor = await conn.execute(
            sql.SQL(_DEFAULT_DAYS).format(
                column=sql.Identifier(column), default=sql.Identifier(f"{table}_default")
            ),
            (NS_PER_DAY,),
        )
        waiting = {int(day) for (day,) in await cursor.fetchall()}
        wanted |= {day for day in waiting if may_have_partition(day, now_day)}
    for table in PARTITIONED_TABLES:
        for day in existing.missing(table, wanted):
            await create_partition(conn, table, day)
            created.append(partition_name(table, day))
    return created


async def drop_partitions_before(
    conn: psycopg.AsyncConnection[Any], day: int, tables: Iterable[str] = PARTITIONED_TABLES
) -> list[str]:
    """Detach and drop every day partition of ``tables`` whose day is before ``day``."""
    existing = await list_partitions(conn)
    dropped = []
    for table in tables:
        for old_day in sorted(d for d in existing.days.get(table, ()) if d < day):
            name = partition_name(table, old_day)
            async with conn.transaction():
                await conn.execute(
                    sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                        sql.Identifier(table), sql.Identifier(name)
                    )
                )
                await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            dropped.append(name)
    return dropped


_MAINTENANCE_LOCK = 0x6167_7061_7274  # "agpart": one partition keeper at a time


async def ensure_partitions_locked(
    conn: psycopg.AsyncConnection[Any],
    days: Iterable[int] | None = None,
    *,
    from_defaults: bool = True,
) -> list[str]:
    """``ensure_partitions`` unless another process is doing it now (then nothing)."""
    cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_MAINTENANCE_LOCK,))
    row = await cursor.fetchone()
    if row is None or not row[0]:
        return []
    try:
        return await ensure_partitions(conn, days, from_defaults=from_defaults)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (_MAINTENANCE_LOCK,))
