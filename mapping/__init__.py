"""Pure mapping from OTLP spans to agents, runs, steps, artifacts and metrics. No I/O here."""

from mapping.derive import derive_trace
from mapping.facts import span_facts
from mapping.facts_codec import facts_from_dict, facts_to_dict
from mapping.values import MAX_DISPLAY_CHARS

__all__ = [
    "MAX_DISPLAY_CHARS",
    "derive_trace",
    "facts_from_dict",
    "facts_to_dict",
    "span_facts",
]
