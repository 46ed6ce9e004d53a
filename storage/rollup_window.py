"""Which rollup buckets cover a time window: whole days, then whole hours, then minutes.

A window is widened to whole minutes (the finest level) and split so that each part is read
from the coarsest level that fits: a 30-day window reads about 30 day rows, 46 hour rows and
118 minute rows per key, whatever the data. ``Cover.since_ns``/``until_ns`` say the window
actually summed.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from storage.rollups import LEVEL_NS

MINUTE_NS = LEVEL_NS[0]
HOUR_NS = LEVEL_NS[1]
DAY_NS = LEVEL_NS[2]
_FAR_FUTURE = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Cover:
    """Bucket ranges per level: ``parts`` holds (level, from, to) with from inclusive."""

    since_ns: int | None
    until_ns: int | None
    parts: tuple[tuple[int, int, int], ...]

    def condition(self, alias: str = "") -> tuple[sql.Composable, list[int]]:
        """A SQL condition selecting the covering buckets, and its parameters."""
        prefix = f"{alias}." if alias else ""
        if not self.parts:
            return sql.SQL("false"), []
        clauses = []
        params: list[int] = []
        for level, low, high in self.parts:
            clauses.append(
                sql.SQL(
                    f"({prefix}level = %s AND {prefix}bucket_ns >= %s AND {prefix}bucket_ns < %s)"
                )
            )
            params += [level, low, high]
        return sql.SQL("(") + sql.SQL(" OR ").join(clauses) + sql.SQL(")"), params


def _floor(ns: int, size: int) -> int:
    return ns - ns % size


def _ceil(ns: int, size: int) -> int:
    return -(-ns // size) * size


def cover(since_ns: int | None, until_ns: int | None) -> Cover:
    """The buckets of the window [since, until), widened to whole minutes."""
    low = 0 if since_ns is None else _floor(max(0, since_ns), MINUTE_NS)
    high = _FAR_FUTURE if until_ns is None else _ceil(max(0, until_ns), MINUTE_NS)
    if high <= low:
        return Cover(low, high, ())
    parts: list[tuple[int, int, int]] = []
    day_low, day_high = _ceil(low, DAY_NS), _floor(high, DAY_NS)
    if day_low < day_high:
        parts.append((2, day_low, day_high))
        hour_edges = [(low, day_low), (day_high, high)]
    else:
        hour_edges = [(low, high)]
    for edge_low, edge_high in hour_edges:
        hour_low, hour_high = _ceil(edge_low, HOUR_NS), _floor(edge_high, HOUR_NS)
        if hour_low < hour_high:
            parts.append((1, hour_low, hour_high))
            minute_edges = [(edge_low, hour_low), (hour_high, edge_high)]
        else:
            minute_edges = [(edge_low, edge_high)]
        parts += [(0, a, b) for a, b in minute_edges if a < b]
    return Cover(
        since_ns=None if since_ns is None else low,
        until_ns=None if until_ns is None else high,
        parts=tuple(parts),
    )


def level_for_width(width_ns: int) -> int:
    """The coarsest level whose buckets tile buckets of ``width_ns``."""
    for level in (2, 1, 0):
        if width_ns % LEVEL_NS[level] == 0:
            return level
    raise ValueError(f"no rollup level tiles {width_ns} ns")
