"""The JSON log format: one object a line with the request id and the call's extra fields."""

from __future__ import annotations

import logging

import orjson

from agentguide.logs import JsonFormatter
from receiver.request_id import begin_request, current_request_id, end_request


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("receiver.http", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_the_fields_and_the_request_id() -> None:
    request_id, token = begin_request("caller-id-1")
    try:
        line = JsonFormatter().format(_record("export refused", status=401))
    finally:
        end_request(token)
    entry = orjson.loads(line)
    assert "\n" not in line
    assert entry["level"] == "info"
    assert entry["logger"] == "receiver.http"
    assert entry["message"] == "export refused"
    assert entry["request_id"] == request_id == "caller-id-1"
    assert entry["status"] == 401
    assert entry["time"].endswith("Z")
    assert current_request_id() is None


def test_an_unusable_incoming_id_is_replaced() -> None:
    for incoming in (None, "", "has space", "x" * 129, 'quote"d'):
        request_id, token = begin_request(incoming)
        end_request(token)
        assert request_id != incoming
        assert len(request_id) == 32


def test_exceptions_are_one_line_too() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    entry = orjson.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exception"]
