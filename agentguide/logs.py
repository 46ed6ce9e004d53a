"""Logging for the server and its derive worker: one JSON object per line, or plain text.

A JSON line has ``time`` (UTC, RFC 3339), ``level``, ``logger``, ``message``, the
``request_id`` of the request being served (when there is one), any ``extra`` fields of the
call, and ``exception`` with the traceback. Nothing logs API keys: they are not passed to
any logger, and error messages never repeat them.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from receiver.request_id import current_request_id

LOG_FORMATS: Final = ("auto", "json", "text")

# The attributes every LogRecord has (and uvicorn's coloured copy of the message): anything
# else on a record came from ``extra``.
_STANDARD_ATTRIBUTES: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = current_request_id()
        return f"{text} [request_id={request_id}]" if request_id is not None else text


def resolve_log_format(log_format: str) -> str:
    """``auto`` is text when stderr is a terminal, JSON otherwise (a service's log file)."""
    if log_format == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return log_format


def configure_logging(level: str, log_format: str) -> None:
    """Send every logger's records to stderr in ``log_format``, at ``level`` and above."""
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter() if resolve_log_format(log_format) == "json" else TextFormatter()
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
