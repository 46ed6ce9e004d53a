"""Langfuse's OpenTelemetry attributes: a trace's session and user, set by apps that export to
Langfuse (``langfuse.session.id``, ``langfuse.user.id``). Recognises no span: it only says
where a span names its session and user, after every other convention's keys."""

from __future__ import annotations

from mapping.conventions.base import Convention, Keys

SESSION_ID = "langfuse.session.id"
USER_ID = "langfuse.user.id"

CONVENTION = Convention(name="langfuse", keys=Keys(session_id=(SESSION_ID,), user_id=(USER_ID,)))
