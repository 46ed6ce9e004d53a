"""Where in a run the words of a search were found: a snippet of the first match, its step.

The snippet is cut from the search document's segment (one input, output or error of the
run or a step) holding the earliest occurrence of any word, around it, and given as
fragments: pieces of text in order, each marked whether it is a match, so a client
highlights without counting characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mapping.search_document import fold

BEFORE_CHARS = 60
AFTER_CHARS = 140


def _occurrences(folded: str, words: Sequence[str], start: int, end: int) -> list[tuple[int, int]]:
    """Merged [from, to) spans of every occurrence of the words in folded[start:end]."""
    found = []
    for word in words:
        at = folded.find(word, start, end)
        while at != -1:
            found.append((at, at + len(word)))
            at = folded.find(word, at + 1, end)
    found.sort()
    merged: list[tuple[int, int]] = []
    for low, high in found:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def snippet(body: str, segments: Sequence[Sequence[Any]], words: Sequence[str]) -> dict[str, Any]:
    """The match of ``words`` in a search document: the segment's span id, name and field,
    and the snippet's fragments ([{"text", "match"}]). Words are folded already."""
    folded = fold(body)
    first = min((at for at in (folded.find(word) for word in words) if at != -1), default=-1)
    if first == -1 or not segments:
        return {"span_id": None, "name": None, "field": None, "fragments": []}
    index = max(i for i, segment in enumerate(segments) if segment[0] <= first or i == 0)
    segment = segments[index]
    segment_end = segments[index + 1][0] - 1 if index + 1 < len(segments) else len(body)
    start = max(segment[0], first - BEFORE_CHARS)
    end = min(segment_end, first + AFTER_CHARS)
    fragments: list[dict[str, Any]] = []
    if start > segment[0]:
        fragments.append({"text": "…", "match": False})
    position = start
    for low, high in _occurrences(folded, words, start, end):
        if low > position:
            fragments.append({"text": body[position:low], "match": False})
        fragments.append({"text": body[low:high], "match": True})
        position = high
    if position < end:
        fragments.append({"text": body[position:end], "match": False})
    if end < segment_end:
        fragments.append({"text": "…", "match": False})
    return {"span_id": segment[1], "name": segment[2], "field": segment[3], "fragments": fragments}
