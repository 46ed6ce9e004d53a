"""Where in a run the words of a search were found: a snippet of the first match, its step.

The snippet is cut from the search document's segment (one input, output or error of the
run or a step) holding the earliest occurrence of any word, around it, and given as
fragments: pieces of text in order, each marked whether it is a match, so a client
highlights without counting characters.

A word is found as the database finds it (``search_word_query``): its letter-and-digit pieces
in order, the first at the start of a word, the last extended to the end of its word (a
prefix), with anything but letters and digits between them; a run of CJK characters anywhere.
When the word is not found so (its pieces are apart in the document), each piece is marked
on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mapping.search_document import CJK_CHARACTERS, fold

BEFORE_CHARS = 60
AFTER_CHARS = 140


_CJK = f"[{CJK_CHARACTERS}]"
_LETTER = f"(?:(?!{_CJK})[^\\W_])"  # a letter or digit, not CJK
_PIECES = re.compile(f"{_CJK}+|{_LETTER}+")


def _is_cjk(piece: str) -> bool:
    return re.match(_CJK, piece) is not None


def _pattern(pieces: Sequence[str]) -> re.Pattern[str]:
    parts = []
    for i, piece in enumerate(pieces):
        if i > 0:
            apart = not _is_cjk(piece) and not _is_cjk(pieces[i - 1])
            parts.append("[\\W_]+" if apart else "[\\W_]*")
        if _is_cjk(piece):
            parts.append(re.escape(piece))
        elif i == 0:
            # The literal first, then the check that it starts a word: a pattern that begins
            # with a literal is searched for by it, not tried at every position.
            literal = re.escape(piece)
            parts.append(f"{literal}(?:(?<![^\\W_]{literal})|(?<={_CJK}{literal}))")
        else:
            parts.append(re.escape(piece))
    if not _is_cjk(pieces[-1]):
        parts.append(f"{_LETTER}*")
    return re.compile("".join(parts))


def word_patterns(folded: str, words: Sequence[str]) -> list[re.Pattern[str]]:
    """The patterns marking ``words`` (folded) in a folded document: one per word found whole,
    one per piece of a word that is not."""
    patterns = []
    for word in words:
        pieces = _PIECES.findall(word)
        if not pieces:
            continue
        whole = _pattern(pieces)
        if len(pieces) == 1 or whole.search(folded):
            patterns.append(whole)
        else:
            patterns.extend(_pattern([piece]) for piece in pieces)
    return patterns


def _occurrences(
    folded: str, patterns: Sequence[re.Pattern[str]], start: int, end: int
) -> list[tuple[int, int]]:
    """Merged [from, to) spans of every occurrence of the patterns in folded[start:end]."""
    found = [
        match.span()
        for pattern in patterns
        for match in pattern.finditer(folded, start, end)
        if match.end() > match.start()
    ]
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
    patterns = word_patterns(folded, words)
    first = min(
        (found.start() for found in (p.search(folded) for p in patterns) if found), default=-1
    )
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
    for low, high in _occurrences(folded, patterns, start, end):
        if low > position:
            fragments.append({"text": body[position:low], "match": False})
        fragments.append({"text": body[low:high], "match": True})
        position = high
    if position < end:
        fragments.append({"text": body[position:end], "match": False})
    if end < segment_end:
        fragments.append({"text": "…", "match": False})
    return {"span_id": segment[1], "name": segment[2], "field": segment[3], "fragments": fragments}
