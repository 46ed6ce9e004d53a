"""What storage raises to its callers: a retryable outage, or data the database refuses."""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout


class StorageUnavailable(Exception):
    """The database cannot be reached or has no free connection: the caller may retry."""


class RejectedData(Exception):
    """The database refused the data itself (not the connection): retrying cannot help.

    ``field`` names what was refused where it is known, for a 400 / INVALID_ARGUMENT answer.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


_UNREACHABLE_STATES = frozenset({"57P01", "57P02", "57P03"})
_UNREACHABLE_CLASSES = frozenset({"08", "53", "58"})
# 23514 (check violation) here means a row routed to a default partition while a partition
# of its day was being attached (our only CHECK constraints are partition bounds and key
# scopes): trying again routes it to the new partition.
_TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03", "23514"})


def means_unreachable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be used now (connection lost, shut
    down, out of resources), as opposed to a problem with the statement or its data."""
    if isinstance(exc, (PoolTimeout, StorageUnavailable)):
        return True
    if not isinstance(exc, psycopg.Error):
        return False
    state = exc.sqlstate
    if state is None:
        return isinstance(exc, psycopg.OperationalError)
    return state in _UNREACHABLE_STATES or state[:2] in _UNREACHABLE_CLASSES


def means_transient(exc: BaseException) -> bool:
    """Whether a database error goes away by trying again (serialization, deadlock, lock)."""
    return isinstance(exc, psycopg.Error) and exc.sqlstate in _TRANSIENT_STATES
