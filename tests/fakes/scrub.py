"""Rewriting absolute file paths (stack traces) in captured bodies to relative ones.

Only string values that contain one of the given roots change; every other byte of the
request stays as the exporter sent it. A protobuf body is re-encoded only after checking that
re-encoding the unmodified message gives back the original bytes.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf.message import Message

from tests.fakes.otlp_bodies import decode, decompress, is_json


def _replace(text: str, roots: Sequence[tuple[str, str]]) -> str:
    for root, replacement in roots:
        text = text.replace(root, replacement)
    return text


def _submessages(message: Message) -> Iterable[Any]:
    """Every message nested in ``message``, ``message`` included, depth first."""
    stack: list[Any] = [message]
    while stack:
        current = stack.pop()
        yield current
        for descriptor, value in current.ListFields():
            if descriptor.message_type is not None:
                stack.extend(value if descriptor.is_repeated else [value])


def _scrub_message(message: Message, roots: Sequence[tuple[str, str]]) -> bool:
    """Replace the roots in every string AnyValue (attributes, event and link attributes,
    log bodies, nested arrays and kvlists) and every span status message."""
    changed = False
    for current in _submessages(message):
        name = current.DESCRIPTOR.name
        if name == "AnyValue" and current.WhichOneof("value") == "string_value":
            new = _replace(current.string_value, roots)
            changed |= new != current.string_value
            current.string_value = new
        elif name == "Status" and current.message:
            new = _replace(current.message, roots)
            changed |= new != current.message
            current.message = new
    return changed


def scrub_body(
    signal: str,
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    roots: Sequence[tuple[str, str]],
) -> bytes | None:
    """The body with each root replaced, or None when no root occurs in it.

    ``roots`` are (absolute prefix, replacement) pairs, tried longest first.
    """
    ordered = sorted(roots, key=lambda pair: len(pair[0]), reverse=True)
    plain = decompress(body, content_encoding)
    if is_json(content_type):
        escaped = [(json.dumps(r)[1:-1], json.dumps(s)[1:-1]) for r, s in ordered]
        new_plain = _replace(plain.decode(), escaped).encode()
        if new_plain == plain:
            return None
    else:
        message = decode(signal, body, content_type, content_encoding)
        if not _scrub_message(message, ordered):
            return None
        if decode(signal, body, content_type, content_encoding).SerializeToString() != plain:
            # another encoder's bytes (the JS exporters'): re-encoding would change more
            # than the paths
            raise ValueError("re-encoding this body does not give back its bytes; not scrubbed")
        new_plain = message.SerializeToString()
    if (content_encoding or "").lower() == "gzip":
        return gzip.compress(new_plain, mtime=0)
    return new_plain
