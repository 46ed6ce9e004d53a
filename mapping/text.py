"""Text that PostgreSQL accepts and indexes: no NUL, no unpaired surrogate, bounded length.

Two bounds: an identifier (a name or id that reaches a database index: agent, tool, model,
session, span name, error type, ...) is cut to ``MAX_IDENTIFIER_BYTES`` of UTF-8 on a character
boundary, well under PostgreSQL's b-tree limit of about 2700 bytes per index entry; a display
text (input, output, error message, artifact content) to ``MAX_DISPLAY_CHARS`` characters.
A cut text is flagged by the caller (``truncated_fields``, ``*_truncated``).

NUL becomes U+FFFD everywhere. Strings decoded from a protobuf span are valid UTF-8 (protobuf
rejects anything else, and so does orjson), so display texts cannot hold a surrogate;
identifiers are checked anyway, which is cheap at their size.
"""

from __future__ import annotations

import re

MAX_DISPLAY_CHARS = 32768
"""The longest input, output or artifact text mapping keeps; longer text is cut and flagged."""

MAX_IDENTIFIER_BYTES = 512
"""The longest identifier mapping keeps, in UTF-8 bytes; longer ones are cut and flagged."""

REPLACEMENT = "\ufffd"
_SHORT_IDENTIFIER = MAX_IDENTIFIER_BYTES // 4  # this many characters always fit
_SURROGATE = re.compile("[\ud800-\udfff]")


def repair_surrogates(text: str) -> str:
    """Pairs of surrogates joined into their character, unpaired ones replaced by U+FFFD."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def valid_text(text: str) -> str:
    """``text`` without NUL (U+FFFD instead) and without unpaired surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    return repair_surrogates(text)


def identifier(text: str) -> tuple[str, bool]:
    """A valid identifier of at most ``MAX_IDENTIFIER_BYTES`` UTF-8 bytes, and whether it was
    cut (on a character boundary)."""
    cut = len(text) > MAX_IDENTIFIER_BYTES  # every character takes at least one byte
    if cut:
        text = text[:MAX_IDENTIFIER_BYTES]
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    if text.isascii():
        return text, cut
    text = repair_surrogates(text)
    if len(text) <= _SHORT_IDENTIFIER:
        return text, cut
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_IDENTIFIER_BYTES:
        return text, cut
    return encoded[:MAX_IDENTIFIER_BYTES].decode("utf-8", "ignore"), True


def display(text: str) -> tuple[str, bool]:
    """``text`` without NUL, cut to ``MAX_DISPLAY_CHARS`` characters, and whether it was cut."""
    cut = len(text) > MAX_DISPLAY_CHARS
    if cut:
        text = text[:MAX_DISPLAY_CHARS]
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    return text, cut
