"""Values bound for PostgreSQL text columns.

A text column holds valid UTF-8 without NUL; OTLP strings may carry both (a lenient parse
gives bytes that are not UTF-8, and JSON may escape lone surrogates). The raw protobuf keeps
what was sent; the text columns get a copy in which each NUL, each lone surrogate and each
run of bytes that are not UTF-8 is U+FFFD, the same everywhere.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def column_text(value: str | bytes) -> str:
    """``value`` as a text column can hold it."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = _SURROGATE.sub(REPLACEMENT, value)
    return value.replace("\x00", REPLACEMENT) if "\x00" in value else value
