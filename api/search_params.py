"""The search parameters of run lists: ``attr.<key>=<condition>`` and ``q=<words>``.

``attr.<key>`` conditions (several combine with AND):

- ``attr.<key>=<value>``: the key has this value (as text, or as the number or boolean the
  text reads as: ``attr.retries=3`` finds the integer 3 and the string "3");
- ``attr.<key>=*``: the key is there, whatever its value;
- ``attr.<key>=gt:<n>`` (``gte:``, ``lt:``, ``lte:``): a numeric value compares so with n;
- ``attr.<key>=eq:<value>``: equality with a value that would otherwise read as one of the
  above (``eq:*``, ``eq:gt:1``).

``q``: words separated by spaces, or a phrase in double quotes; every word must occur in the
run's search document, case-insensitively, as a whole word or the start of one (CJK by
bigrams; docs/search.md). A word without a letter or digit is left out.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from fastapi import Depends, Query, Request

from api.params import invalid_parameter
from mapping.search_document import fold
from mapping.span_attributes import MAX_KEY_CHARS, MAX_VALUE_CHARS
from storage.query_records import AttributeFilter, AttributeOperator

ATTRIBUTE_PREFIX = "attr."
MAX_ATTRIBUTE_FILTERS = 10
MAX_QUERY_CHARS = 200
MAX_WORDS = 8

_NUMERIC: dict[str, AttributeOperator] = {"gt:": "gt", "gte:": "gte", "lt:": "lt", "lte:": "lte"}
_WORD = re.compile(r'"([^"]*)"|(\S+)')

ATTRIBUTE_DESCRIPTION = (
    "attr.<key>=<value> (equality), attr.<key>=* (the key exists), attr.<key>=gt:<n> "
    "(gte:, lt:, lte: numeric comparison), attr.<key>=eq:<value> (literal equality); several "
    "combine with AND. Keys are span, resource and scope attributes of the run's agent span or "
    "of any of its steps (docs/search.md)"
)
QUERY_DESCRIPTION = (
    'words (or a "quoted phrase", whose words must all occur) that must all occur in the '
    "run's or its steps' input, output or error, in any language, case-insensitively, as whole "
    "words or the start of longer ones"
)


def _condition(name: str, key: str, value: str) -> AttributeFilter:
    if "\x00" in key or "\x00" in value:
        raise invalid_parameter(name, "must not contain the NUL character")
    if value == "*":
        return AttributeFilter(key, "exists")
    if value.startswith("eq:"):
        value = value[3:]
    else:
        for prefix, operator in _NUMERIC.items():
            if value.startswith(prefix):
                try:
                    number = float(value[len(prefix) :])
                except ValueError:
                    number = math.nan
                if not math.isfinite(number):
                    raise invalid_parameter(
                        name, f"{prefix} needs a finite number, got {value[len(prefix) :]!r}"
                    )
                return AttributeFilter(key, operator, number)
    if not value:
        raise invalid_parameter(name, "needs a value (use * for 'the key exists')")
    if len(value) > MAX_VALUE_CHARS:
        raise invalid_parameter(
            name,
            f"values longer than {MAX_VALUE_CHARS} characters are not indexed: search them with q",
        )
    return AttributeFilter(key, "eq", value)


def attribute_filters(request: Request) -> tuple[AttributeFilter, ...]:
    """The ``attr.<key>`` conditions of the request's query string."""
    found = []
    for name, value in request.query_params.multi_items():
        if not name.startswith(ATTRIBUTE_PREFIX):
            continue
        key = name[len(ATTRIBUTE_PREFIX) :]
        if not key:
            raise invalid_parameter(name, "needs a key: attr.<key>=<value>")
        if len(key) > MAX_KEY_CHARS:
            raise invalid_parameter(
                name[:40] + "…", f"keys longer than {MAX_KEY_CHARS} characters are not indexed"
            )
        found.append(_condition(name, key, value))
    if len(found) > MAX_ATTRIBUTE_FILTERS:
        raise invalid_parameter(
            "attr.", f"at most {MAX_ATTRIBUTE_FILTERS} attribute conditions, got {len(found)}"
        )
    return tuple(found)


def search_words(q: str | None) -> tuple[str, ...]:
    """The folded words of a ``q`` parameter; () without one."""
    if q is None:
        return ()
    if "\x00" in q:
        raise invalid_parameter("q", "must not contain the NUL character")
    if len(q) > MAX_QUERY_CHARS:
        raise invalid_parameter("q", f"must be at most {MAX_QUERY_CHARS} characters")
    words = []
    for match in _WORD.finditer(q):
        word = fold((match.group(1) if match.group(1) is not None else match.group(2)).strip())
        if any(c.isalnum() for c in word) and word not in words:
            words.append(word)
    if not words:
        raise invalid_parameter("q", "needs at least one word (letters or digits)")
    if len(words) > MAX_WORDS:
        raise invalid_parameter("q", f"at most {MAX_WORDS} words, got {len(words)}")
    return tuple(words)


def query_words(
    q: Annotated[str | None, Query(description=QUERY_DESCRIPTION)] = None,
) -> tuple[str, ...]:
    return search_words(q)


AttributesDep = Annotated[tuple[AttributeFilter, ...], Depends(attribute_filters)]
WordsDep = Annotated[tuple[str, ...], Depends(query_words)]
