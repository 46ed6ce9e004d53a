"""A run of a text search with where its words were found."""

from __future__ import annotations

from collections.abc import Sequence

from api.schemas import Run
from api.search_schemas import SearchMatch, SnippetFragment
from api.search_snippets import snippet
from storage.search_queries import SearchHit


def with_match(run: Run, hit: SearchHit | None, words: Sequence[str]) -> Run:
    """``run`` with its ``match`` filled from its search document."""
    if hit is None:
        return run
    found = snippet(hit.body, hit.segments, words)
    span_id = found["span_id"]
    run.match = SearchMatch(
        score=hit.score,
        step_id=run.trace_id + span_id if span_id else None,
        span_id=span_id,
        name=found["name"],
        field=found["field"],
        fragments=[SnippetFragment(**fragment) for fragment in found["fragments"]],
    )
    return run
