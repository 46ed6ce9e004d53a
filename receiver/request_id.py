"""The id of the request being served, for every log line written while serving it.

An incoming ``X-Request-Id`` (gRPC: ``x-request-id`` metadata) is kept when it is a short
token of safe characters, so a caller's id can be followed into our logs; otherwise one is made.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token
from typing import Final

REQUEST_ID_HEADER: Final = "x-request-id"
_SAFE_ID: Final = re.compile(r"[A-Za-z0-9._:+=-]{1,128}")
_current: ContextVar[str | None] = ContextVar("agentguide_request_id", default=None)


def current_request_id() -> str | None:
    return _current.get()


def begin_request(incoming: str | None) -> tuple[str, Token[str | None]]:
    """Make ``incoming`` (when usable) or a new id the current one; reset with the token."""
    request_id = incoming if incoming and _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
    return request_id, _current.set(request_id)


def end_request(token: Token[str | None]) -> None:
    _current.reset(token)
