"""General OpenTelemetry semantic conventions every convention relies on (not registered: they
classify nothing): the service, exceptions and errors."""

from __future__ import annotations

SERVICE_NAME = "service.name"
ERROR_TYPE = "error.type"
EXCEPTION_EVENT = "exception"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
