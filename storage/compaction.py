"""Compaction of sealed day partitions: their B-tree indexes rebuilt once their day is over.

The derivers write a day's runs, steps and search rows one by one, and a B-tree whose keys
arrive in random order (``trace_id`` first) or are inserted into the middle (``start_ns DESC``)
splits its pages in half and ends up 20 to 30% larger than built in one go, which fills its
pages to 90%. A day partition takes few writes once its day is over, so each of its
B-trees is rebuilt once with ``REINDEX INDEX CONCURRENTLY`` (reads and writes go on; it waits
for the transactions using the table, never blocks them), filling its pages whole (fillfactor
100, set on the partition's index alone: a late write into a full page splits it, and writes
of a tenth of the rows make the partition due again), then the partition gets ``VACUUM
(ANALYZE)``. At 200,000 spans of ``bench/bench_query.py`` the B-trees of ``runs`` took 88 bytes
a span and 69 rebuilt (74 at fillfactor 90), those of ``steps`` 130 and 93 (101).

GIN indexes (``run_search``'s words and attributes) are not rebuilt: a GIN build inserts its
keys in order and splits its entry pages in half, so it came out larger than the same index
filled row by row (the words index 278 -> 337 bytes a span at 200,000 spans; on 18,181 runs
in one table, 21.8 MB row by row against 25.5 MB built, the attributes 12.2 against 15.4 MB).
The VACUUM merges their pending lists. Nor is the TOAST table's index: its keys arrive in
order, so it is as dense as built, and rebuilding it would read the whole TOAST table, most of
a partition's bytes.

A partition is compacted when its day ended at least ``compact_after_ns`` ago, its table has
pages, and it was never compacted, or the rows written to it since (inserted, updated and
deleted, by ``pg_stat_user_tables``) are more than ``REWRITE_FRACTION`` of the rows it had
then: a backfill or late spans of that day. ``partition_compactions`` (migration 0015)
records each compaction. The largest B-trees go first: the gain grows with them, so a pass cut
short (a restart, an outage) has reclaimed the most it could; in steady state a pass finds one
day's four partitions and the order does not matter. Days retention is about to drop are left
alone (``drop_horizon_ns``): the rebuild would be thrown away, and retention's DETACH would
wait for it.

One process at a time (a session advisory lock). The connection must be in autocommit mode:
neither statement runs in a transaction. A partition dropped meanwhile (retention) is
skipped. A REINDEX CONCURRENTLY that failed or was cancelled leaves an invalid index named
``*_ccnew*`` (or ``*_ccold*``) behind, which nothing else drops (it takes space, and writes may
still update it): a pass drops those first.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import errors, sql

from storage import partitions
from storage.errors import StorageUnavailable, means_unreachable

logger = logging.getLogger(__name__)

COMPACT_AFTER_S = 3_600.0  # a day partition is compacted this long after its day ended
REWRITE_FRACTION = 0.1  # compacted again once written this much (of its rows then) since
_COMPACTION_LOCK = 0x6167_636F_6D70  # "agcomp": one compacting process at a time

REBUILT_INDEX_METHODS = ("btree",)  # see above: GIN indexes come out larger rebuilt
SEALED_FILLFACTOR = 100  # of the rebuilt B-trees (PostgreSQL's default: 90)

_PARTITIONS = """
SELECT child.oid, child.relname, pg_total_relation_size(child.oid),
       (SELECT coalesce(sum(pg_relation_size(pg_index.indexrelid)), 0)
        FROM pg_index JOIN pg_class index ON index.oid = pg_index.indexrelid
        JOIN pg_am ON pg_am.oid = index.relam
        WHERE pg_index.indrelid = child.oid AND pg_am.amname = ANY(%(methods)s)),
       pg_relation_size(child.oid),
       coalesce(stats.n_tup_ins + stats.n_tup_upd + stats.n_tup_del, 0),
       done.relid, done.rows_then, done.writes_then
FROM pg_inherits
JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
JOIN pg_class child ON child.oid = pg_inherits.inhrelid
JOIN pg_namespace ns ON ns.oid = parent.relnamespace
LEFT JOIN pg_stat_user_tables stats ON stats.relid = child.oid
LEFT JOIN partition_compactions done ON done.name = child.relname
WHERE ns.nspname = current_schema() AND parent.relname = ANY(%(tables)s)
"""

_REBUILT_INDEXES = """
SELECT index_ns.nspname, index.relname
FROM pg_index
JOIN pg_class index ON index.oid = pg_index.indexrelid
JOIN pg_namespace index_ns ON index_ns.oid = index.relnamespace
JOIN pg_am ON pg_am.oid = index.relam
WHERE pg_index.indrelid = %s AND pg_index.indisvalid AND pg_am.amname = ANY(%s)
ORDER BY 2
"""

# Invalid indexes left by a REINDEX CONCURRENTLY that did not finish, on the partitions or on
# their TOAST tables.
_LEFTOVERS = """
SELECT index_ns.nspname, index.relname
FROM pg_inherits
JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
JOIN pg_namespace ns ON ns.oid = parent.relnamespace
JOIN pg_class child ON child.oid = pg_inherits.inhrelid
JOIN pg_index ON pg_index.indrelid IN (child.oid, child.reltoastrelid)
JOIN pg_class index ON index.oid = pg_index.indexrelid
JOIN pg_namespace index_ns ON index_ns.oid = index.relnamespace
WHERE ns.nspname = current_schema() AND parent.relname = ANY(%s)
  AND NOT pg_index.indisvalid AND index.relname ~ '_cc(new|old)[0-9]*$'
ORDER BY 1, 2
"""

_SIZES = "SELECT pg_total_relation_size(%(oid)s), pg_indexes_size(%(oid)s)"

_RECORD = """
INSERT INTO partition_compactions (name, relid, compacted_at, rows_then, writes_then)
SELECT c.relname, c.oid, now(), greatest(c.reltuples, 0)::bigint,
       coalesce(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)
FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid = %s
ON CONFLICT (name) DO UPDATE SET relid = excluded.relid, compacted_at = excluded.compacted_at,
    rows_then = excluded.rows_then, writes_then = excluded.writes_then
"""

# Records of partitions that are gone (retention dropped them).
_FORGET = """
DELETE FROM partition_compactions
WHERE to_regclass(quote_ident(current_schema()) || '.' || quote_ident(name)) IS NULL
"""


@dataclass(frozen=True, slots=True)
class DuePartition:
    """A day partition to compact, as found when the pass was planned."""

    oid: int
    name: str
    table: str
    day: int
    total_bytes: int  # table, TOAST and indexes
    rebuilt_bytes: int  # of the indexes to rebuild
    again: bool  # compacted before, and written to since


@dataclass(frozen=True, slots=True)
class CompactedPartition:
    name: str
    bytes_before: int  # table, TOAST and indexes
    bytes_after: int
    index_bytes_before: int  # every index of the table
    index_bytes_after: int
    seconds: float


@dataclass(slots=True)
class CompactionPass:
    """What one pass did."""

    compacted: list[CompactedPartition] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)  # dropped before they could be compacted
    failed: list[str] = field(default_factory=list)  # tried again next pass
    leftovers_dropped: list[str] = field(default_factory=list)  # invalid *_ccnew indexes
    locked_out: bool = False  # another process was compacting: nothing done

    @property
    def bytes_before(self) -> int:
        return sum(done.bytes_before for done in self.compacted)

    @property
    def bytes_after(self) -> int:
        return sum(done.bytes_after for done in self.compacted)


def _written_since(writes_now: int, writes_then: int) -> int:
    # The statistics counters restart from zero after a crash or pg_stat_reset(): what was
    # counted since is then all that is known.
    return writes_now - writes_then if writes_now >= writes_then else writes_now


async def due_partitions(
    conn: psycopg.AsyncConnection[Any],
    *,
    now_ns: int,
    compact_after_ns: int = round(COMPACT_AFTER_S * 10**9),
    drop_horizon_ns: int | None = None,
    rewrite_fraction: float = REWRITE_FRACTION,
) -> list[DuePartition]:
    """The day partitions to compact now, largest B-trees first: those of days that ended at
    least ``compact_after_ns`` before ``now_ns`` (and, given ``drop_horizon_ns``, after it)
    that hold pages and were never compacted, or were written to more than
    ``rewrite_fraction`` of their rows since."""
    cursor = await conn.execute(
        _PARTITIONS,
        {"tables": list(partitions.PARTITIONED_TABLES), "methods": list(REBUILT_INDEX_METHODS)},
    )
    due: list[DuePartition] = []
    for row in await cursor.fetchall():
        oid, name, total, rebuilt, heap, writes, relid, rows_then, writes_then = row
        parsed = partitions.table_and_day(name)
        if parsed is None or total is None or not heap:
            continue  # the default partition; one dropped meanwhile; one without rows
        table, day = parsed
        _, day_end = partitions.day_bounds(day)
        if day_end > now_ns - compact_after_ns:
            continue
        if drop_horizon_ns is not None and day_end <= drop_horizon_ns:
            continue
        again = relid == oid
        if again and _written_since(writes, writes_then) <= rewrite_fraction * rows_then:
            continue
        due.append(DuePartition(oid, name, table, day, total, int(rebuilt), again))
    due.sort(key=lambda partition: (-partition.rebuilt_bytes, partition.day, partition.name))
    return due


async def drop_leftover_indexes(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    """Drop the invalid ``*_ccnew*`` / ``*_ccold*`` indexes that an unfinished REINDEX
    CONCURRENTLY left on the day partitions; their names."""
    cursor = await conn.execute(_LEFTOVERS, (list(partitions.PARTITIONED_TABLES),))
    dropped = []
    for schema, name in await cursor.fetchall():
        try:
            await conn.execute(
                sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name))
            )
        except psycopg.Error as exc:
            if means_unreachable(exc):
                raise
            logger.warning("could not drop the leftover index %s.%s: %s", schema, name, exc)
            continue
        dropped.append(name)
    return dropped


async def _sizes(conn: psycopg.AsyncConnection[Any], oid: int) -> tuple[int, int] | None:
    cursor = await conn.execute(_SIZES, {"oid": oid})
    row = await cursor.fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


async def compact_partition(
    conn: psycopg.AsyncConnection[Any], partition: DuePartition
) -> CompactedPartition | None:
    """REINDEX INDEX CONCURRENTLY each B-tree of one partition at ``SEALED_FILLFACTOR``, then
    VACUUM (ANALYZE) it, and record it; None when the partition is gone (dropped since it
    was found)."""
    started = time.perf_counter()
    before = await _sizes(conn, partition.oid)
    if before is None:
        return None
    cursor = await conn.execute(_REBUILT_INDEXES, (partition.oid, list(REBUILT_INDEX_METHODS)))
    indexes = await cursor.fetchall()
    try:
        for schema, index in indexes:
            name = sql.Identifier(schema, index)
            # a lock that does not block reads and writes (SHARE UPDATE EXCLUSIVE)
            await conn.execute(
                sql.SQL("ALTER INDEX {} SET (fillfactor = {})").format(
                    name, sql.Literal(SEALED_FILLFACTOR)
                )
            )
            await conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(name))
        await conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(partition.name)))
    except errors.UndefinedTable:
        return None
    after = await _sizes(conn, partition.oid)
    if after is None:
        return None
    await conn.execute(_RECORD, (partition.oid,))
    return CompactedPartition(
        partition.name, before[0], after[0], before[1], after[1], time.perf_counter() - started
    )


async def compact_partitions(
    conn: psycopg.AsyncConnection[Any],
    due: Sequence[DuePartition],
    *,
    on_partition: Callable[[CompactedPartition], None] | None = None,
) -> CompactionPass:
    """Compact these partitions in turn; one that is gone is skipped, one that fails is left
    for the next pass (only an unreachable database stops the pass)."""
    if not conn.autocommit:
        raise ValueError("compaction needs a connection in autocommit mode")
    done = CompactionPass()
    for partition in due:
        try:
            compacted = await compact_partition(conn, partition)
        except psycopg.Error as exc:
            if means_unreachable(exc):
                raise
            logger.warning("compacting %s failed; it is tried again next pass: %s",
                           partition.name, exc)  # fmt: skip
            done.failed.append(partition.name)
            continue
        if compacted is None:
            done.vanished.append(partition.name)
            continue
        done.compacted.append(compacted)
        logger.debug(
            "compacted %s: %d -> %d bytes (indexes %d -> %d) in %.1f s",
            compacted.name,
            compacted.bytes_before,
            compacted.bytes_after,
            compacted.index_bytes_before,
            compacted.index_bytes_after,
            compacted.seconds,
        )
        if on_partition is not None:
            on_partition(compacted)
    return done


async def compact_sealed_partitions(
    conn: psycopg.AsyncConnection[Any],
    *,
    now_ns: int | None = None,
    compact_after_ns: int = round(COMPACT_AFTER_S * 10**9),
    drop_horizon_ns: int | None = None,
    on_partition: Callable[[CompactedPartition], None] | None = None,
) -> CompactionPass:
    """One pass: unless another process is compacting, drop leftover invalid indexes, forget
    the partitions that are gone, then compact every due partition (``due_partitions``).
    ``conn`` must be in autocommit mode."""
    if not conn.autocommit:
        raise ValueError("compaction needs a connection in autocommit mode")
    cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (_COMPACTION_LOCK,))
    row = await cursor.fetchone()
    if row is None or not row[0]:
        return CompactionPass(locked_out=True)
    try:
        leftovers = await drop_leftover_indexes(conn)
        await conn.execute(_FORGET)
        due = await due_partitions(
            conn,
            now_ns=time.time_ns() if now_ns is None else now_ns,
            compact_after_ns=compact_after_ns,
            drop_horizon_ns=drop_horizon_ns,
        )
        done = await compact_partitions(conn, due, on_partition=on_partition)
        done.leftovers_dropped = leftovers
        return done
    finally:
        # A connection that cannot run this is broken: closing it releases the lock.
        with contextlib.suppress(psycopg.Error):
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_COMPACTION_LOCK,))


async def compact_database(
    database_url: str,
    *,
    compact_after_ns: int = round(COMPACT_AFTER_S * 10**9),
    drop_horizon_ns: int | None = None,
    on_partition: Callable[[CompactedPartition], None] | None = None,
    connect_timeout_s: int = 5,
) -> CompactionPass:
    """One pass (``compact_sealed_partitions``) over a connection of its own, closed after it:
    the session lock goes with it whatever happened. Raises StorageUnavailable when the
    database cannot be used; what was compacted by then stays compacted."""
    try:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, connect_timeout=connect_timeout_s
        ) as conn:
            return await compact_sealed_partitions(
                conn,
                compact_after_ns=compact_after_ns,
                drop_horizon_ns=drop_horizon_ns,
                on_partition=on_partition,
            )
    except Exception as exc:
        if means_unreachable(exc):
            raise StorageUnavailable(str(exc)) from exc
        raise
