"""Mapping facts of recently derived spans, so re-deriving a growing trace maps only new spans."""

from __future__ import annotations

from collections import OrderedDict

from mapping.model import SpanFacts

TraceKey = tuple[int, bytes]


class FactsCache:
    """Facts by (project, trace, span) and row version, least recently derived traces evicted.

    A span's facts depend only on its stored row, so a row version (PostgreSQL's ``xmin``) that
    has not changed means the facts have not either.
    """

    def __init__(self, max_spans: int = 10_000) -> None:
        self.max_spans = max_spans
        self._traces: OrderedDict[TraceKey, dict[bytes, tuple[str, SpanFacts]]] = OrderedDict()
        self._size = 0

    def get(
        self, project_id: int, trace_id: bytes, span_id: bytes, version: str
    ) -> SpanFacts | None:
        spans = self._traces.get((project_id, trace_id))
        if spans is None:
            return None
        self._traces.move_to_end((project_id, trace_id))
        entry = spans.get(span_id)
        if entry is None or entry[0] != version:
            return None
        return entry[1]

    def put(
        self, project_id: int, trace_id: bytes, span_id: bytes, version: str, facts: SpanFacts
    ) -> None:
        key = (project_id, trace_id)
        spans = self._traces.get(key)
        if spans is None:
            spans = self._traces[key] = {}
        else:
            self._traces.move_to_end(key)
        if span_id not in spans:
            self._size += 1
        spans[span_id] = (version, facts)
        while self._size > self.max_spans and len(self._traces) > 1:
            _, evicted = self._traces.popitem(last=False)
            self._size -= len(evicted)

    def __len__(self) -> int:
        return self._size
