"""Pure mapping from OTLP spans to agents, runs, steps, artifacts and metrics. No I/O here."""

from mapping.derive import derive_trace
from mapping.facts import span_facts
from mapping.values import MAX_DISPLAY_CHARS

__all__ = [
    "MAX_DISPLAY_CHARS",
    "derive_trace",
    "span_facts",
]
