"""Pure mapping from OTLP spans to agents, runs, steps, artifacts and metrics. No I/O here."""

from mapping.derive import derive_trace
from mapping.facts import span_facts
from mapping.text import MAX_DISPLAY_CHARS, MAX_IDENTIFIER_BYTES

__all__ = [
    "MAX_DISPLAY_CHARS",
    "MAX_IDENTIFIER_BYTES",
    "derive_trace",
    "span_facts",
]
