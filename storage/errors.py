"""What storage raises to its callers: a retryable outage, or data the database refuses."""

from __future__ import annotations


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
