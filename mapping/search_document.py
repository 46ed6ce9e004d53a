"""What search finds a run by: its attributes and a bounded text document, per run.

The attributes of a run are those of its agent span and of every one of its steps' spans
(span, resource and scope attributes, as ``mapping.span_attributes`` reads them), merged:
each key with its distinct values. A nested run's steps belong to that run, not its parent.

The document is the run's input, output and error message, then each step's input (a tool
step's input is its arguments), output and error message, in step order, each cut to
``SEGMENT_CHARS`` and all of it to ``DOCUMENT_CHARS``; every segment records where it starts
and which span, name and field it came from, so a match can say which step it is in.

The words of a document (``words_text``) are what its tsvector is made of: the body folded,
each run of CJK characters cut into overlapping bigrams, so Chinese and Japanese words are
found without a word breaker (docs/search.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mapping.model import DerivedTrace, SpanFacts

SEGMENT_CHARS = 512
DOCUMENT_CHARS = 4096
MAX_KEYS = 256  # attribute keys kept per run
MAX_VALUES = 32  # distinct values kept per key and run

Scalar = str | int | float | bool

# Raise when words_text changes what it makes of a body: stored rows are then rewritten.
WORDS_FORMAT = 2  # 1: the folded body; 2: CJK bigrams, cut at "/", "@" and "x-1", deduplicated

# Han (with 々 〆 〇), Hiragana, Katakana (not the middle dot ・), Hangul, half-width Katakana.
CJK_CHARACTERS = (
    "\u1100-\u11ff\u3005-\u3007\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u3131-\u318e"
    "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0003134f"
)
_CJK_RUN = re.compile(f"[{CJK_CHARACTERS}]+")
# PostgreSQL's parser reads "order-12345" as "order" and the signed integer "-12345", so
# "12345" would not find it: the hyphen between a letter or digit and a digit becomes a space.
_HYPHEN_BEFORE_DIGIT = re.compile(r"-(?=\d)")  # the letter or digit before: _split_hyphen
# The parser keeps an e-mail address or a path as one word ('user@example.com',
# '/var/log/app.log'): cut there, "example.com" and "app.log" are words of their own.
_SEPARATORS = str.maketrans({"/": " ", "@": " "})


@dataclass(frozen=True, slots=True)
class Segment:
    """Where one piece of text starts in a document, and what it is."""

    offset: int
    span_id: str
    name: str
    field: str  # "input", "output" or "error"


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """The searchable part of one run."""

    span_id: str  # the run's span id (hex)
    start_ns: int
    attributes: dict[str, list[Scalar]]
    body: str
    segments: tuple[Segment, ...]


def fold(text: str) -> str:
    """``text`` in lower case, character for character (offsets stay valid): a character whose
    lower case is longer than itself (``İ``) stays as it is."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(low := c.lower()) != 1 else low for c in text)


def _bigrams(match: re.Match[str]) -> str:
    run = match.group()
    if len(run) == 1:
        return f" {run} "
    return " " + " ".join(run[i : i + 2] for i in range(len(run) - 1)) + " "


def _split_hyphen(match: re.Match[str]) -> str:
    at = match.start()
    before = match.string[at - 1] if at else " "
    return " " if before.isalnum() else "-"


def words_text(text: str) -> str:
    """The text whose 'simple' tsvector holds the words of ``text`` (a document or a searched
    word): folded, cut at "/" and "@" and between "x-" and a digit, every run of CJK characters
    made its overlapping bigrams (a lone one stays), each whitespace-separated token once (the
    tsvector keeps no positions: order and repeats do not matter, and PostgreSQL's parsing
    costs by the character)."""
    folded = fold(text).translate(_SEPARATORS)
    if "-" in folded:
        folded = _HYPHEN_BEFORE_DIGIT.sub(_split_hyphen, folded)
    if not folded.isascii():
        folded = _CJK_RUN.sub(_bigrams, folded)
    return " ".join(dict.fromkeys(folded.split()))


def merge_attributes(
    pairs: Iterable[tuple[str, Scalar | None]],
) -> dict[str, list[Scalar]]:
    """Pairs as a key → distinct values map, bounded by ``MAX_KEYS`` and ``MAX_VALUES``."""
    merged: dict[str, list[Scalar]] = {}
    seen: set[tuple[str, type, Scalar]] = set()
    for key, value in pairs:
        values = merged.get(key)
        if values is None:
            if len(merged) >= MAX_KEYS:
                continue
            values = merged[key] = []
        if value is None or len(values) >= MAX_VALUES:
            continue
        marker = (key, type(value), value)
        if marker not in seen:
            seen.add(marker)
            values.append(value)
    return merged


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.segments: list[Segment] = []
        self.length = 0

    def add(self, text: str | None, span_id: str, name: str, field: str) -> None:
        if not text or not text.strip():
            return
        offset = self.length + (1 if self.parts else 0)
        room = DOCUMENT_CHARS - offset
        if room <= 0:
            return
        piece = text[: min(SEGMENT_CHARS, room)]
        self.parts.append(piece)
        self.segments.append(Segment(offset, span_id, name, field))
        self.length = offset + len(piece)

    def body(self) -> str:
        return "\n".join(self.parts)


def run_documents(derived: DerivedTrace, facts: Mapping[str, SpanFacts]) -> list[SearchDocument]:
    """One search document per run of a derived trace."""
    steps_of: dict[str, list] = {}
    for step in derived.steps:
        steps_of.setdefault(step.run_id, []).append(step)
    documents = []
    for run in derived.runs:
        steps = sorted(steps_of.get(run.id, []), key=lambda s: s.index)
        builder = _Builder()
        builder.add(run.input, run.span_id, run.name, "input")
        builder.add(run.output, run.span_id, run.name, "output")
        builder.add(run.error_message, run.span_id, run.name, "error")
        for step in steps:
            builder.add(step.input, step.span_id, step.name, "input")
            builder.add(step.output, step.span_id, step.name, "output")
            builder.add(step.error_message, step.span_id, step.name, "error")
        pairs: list[tuple[str, Scalar | None]] = []
        shared_seen: set[int] = set()  # a resource's pairs are the same for all its spans
        for span_id in (run.span_id, *(step.span_id for step in steps)):
            found = facts.get(span_id)
            if found is not None:
                pairs.extend(found.attributes)
                if id(found.shared_attributes) not in shared_seen:
                    shared_seen.add(id(found.shared_attributes))
                    pairs.extend(found.shared_attributes)
        documents.append(
            SearchDocument(
                span_id=run.span_id,
                start_ns=run.start_ns,
                attributes=merge_attributes(pairs),
                body=builder.body(),
                segments=tuple(builder.segments),
            )
        )
    return documents
