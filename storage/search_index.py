"""The search documents of runs (table ``run_search``), kept by the deriver.

A ``DerivedExtension``: for every trace a batch derives, it builds each run's search document
(``mapping.search_document``), compares its digest with the stored one and rewrites only the
runs whose document changed, deleting those of runs that are gone. It writes in the
derivation's transaction, so documents and runs commit together. ``words`` is the stripped
'simple' tsvector of ``words_text(body)``, made by the server; ``document`` is the body and
segments as one zstd frame of the JSON [body, segments], read only to cut snippets (migration
0016).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg

from mapping.search_document import WORDS_FORMAT, SearchDocument, run_documents, words_text
from storage.codec import compress, decompress
from storage.derived_extensions import TraceChange
from storage.derived_rows import clean_text

_SELECT_DIGESTS = """
SELECT trace_id, span_id, start_ns, digest FROM run_search
WHERE project_id = %s AND trace_id = ANY(%s) AND start_ns BETWEEN %s AND %s
"""
_DELETE = """
DELETE FROM run_search x USING unnest(%s::bytea[], %s::bytea[], %s::int8[]) AS k(t, s, st)
WHERE x.project_id = %s AND x.trace_id = k.t AND x.span_id = k.s AND x.start_ns = k.st
  AND x.start_ns BETWEEN %s AND %s
"""
_INSERT = """
INSERT INTO run_search (trace_id, project_id, span_id, start_ns, digest, attributes, words,
                        document)
SELECT t, %s, s, st, d, a::jsonb, strip(to_tsvector('simple', w)), doc
FROM unnest(%b::bytea[], %b::bytea[], %b::int8[], %b::bytea[], %b::text[], %b::text[],
            %b::bytea[]) AS x(t, s, st, d, a, w, doc)
ON CONFLICT (trace_id, project_id, span_id, start_ns) DO UPDATE SET
    digest = EXCLUDED.digest, attributes = EXCLUDED.attributes, words = EXCLUDED.words,
    document = EXCLUDED.document, body = NULL, segments = NULL
"""
# Part of every digest: raised when the stored form of a row changes, so that deriving a trace
# again rewrites its rows in the new form. 2: the document as one zstd frame (migration 0016).
STORED_FORMAT = 2

Key = tuple[bytes, bytes, int]  # trace id, span id, start
Segments = list[list[Any]]  # [offset, span id (hex), name, field] of each piece of the body


def decode_document(
    document: bytes | None, body: str | None, segments: Segments | None
) -> tuple[str, Segments]:
    """A stored row's document (body, segments): from ``document``, or from the columns a row
    written before migration 0016 keeps them in."""
    if document is not None:
        decoded_body, decoded_segments = orjson.loads(decompress(document))
        return decoded_body, decoded_segments
    return body or "", segments or []


class _Row:
    __slots__ = ("attributes", "digest", "document", "key", "words")

    def __init__(self, trace_id: bytes, document: SearchDocument) -> None:
        self.key: Key = (trace_id, bytes.fromhex(document.span_id), document.start_ns)
        body = clean_text(document.body) or ""
        self.words = words_text(body)
        self.attributes = orjson.dumps(document.attributes).decode()
        segments = [[s.offset, s.span_id, clean_text(s.name), s.field] for s in document.segments]
        stored = orjson.dumps([body, segments])  # the document's stored form, zstd-compressed
        self.document = compress(stored)
        self.digest = hashlib.blake2b(
            b"\x1f".join(
                (f"{WORDS_FORMAT}.{STORED_FORMAT}".encode(), self.attributes.encode(), stored)
            ),
            digest_size=8,
        ).digest()


def _digest(row: _Row | None) -> bytes | None:
    return None if row is None else row.digest


class SearchIndex:
    """A ``DerivedExtension`` writing one ``run_search`` row per run."""

    name = "run_search"

    async def apply(
        self, conn: psycopg.AsyncConnection[Any], changes: Sequence[TraceChange]
    ) -> None:
        by_project: dict[int, list[TraceChange]] = {}
        for change in changes:
            by_project.setdefault(change.project_id, []).append(change)
        for project_id, project_changes in sorted(by_project.items()):
            await self._apply_project(conn, project_id, project_changes)

    async def _apply_project(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, changes: list[TraceChange]
    ) -> None:
        new: dict[Key, _Row] = {}
        for change in changes:
            if change.derived is None:
                continue
            for document in run_documents(change.derived, change.facts):
                row = _Row(change.trace_id, document)
                new[row.key] = row
        stored = await self._stored(conn, project_id, changes)
        gone = [
            key for key, digest in stored.items() if (key not in new or new[key].digest != digest)
        ]
        fresh = [row for key, row in new.items() if stored.get(key) != row.digest]
        if gone:
            starts = [key[2] for key in gone]
            await conn.execute(
                _DELETE,
                (
                    [key[0] for key in gone],
                    [key[1] for key in gone],
                    starts,
                    project_id,
                    min(starts),
                    max(starts),
                ),
            )
        if fresh:
            await conn.execute(
                _INSERT,
                (
                    project_id,
                    [row.key[0] for row in fresh],
                    [row.key[1] for row in fresh],
                    [row.key[2] for row in fresh],
                    [row.digest for row in fresh],
                    [row.attributes for row in fresh],
                    [row.words for row in fresh],
                    [row.document for row in fresh],
                ),
            )

    @staticmethod
    async def _stored(
        conn: psycopg.AsyncConnection[Any], project_id: int, changes: list[TraceChange]
    ) -> dict[Key, bytes]:
        """The digests stored for the runs the traces had before."""
        ranges = [c.old_rows.span_range() for c in changes if c.old_rows.runs]
        traces = [c.trace_id for c in changes if c.old_rows.runs]
        if not traces:
            return {}
        low = min(r[0] for r in ranges if r is not None)
        high = max(r[1] for r in ranges if r is not None)
        cursor = await conn.execute(_SELECT_DIGESTS, (project_id, traces, low, high))
        return {(bytes(t), bytes(s), int(st)): bytes(d) for t, s, st, d in await cursor.fetchall()}
