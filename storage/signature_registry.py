"""The failure signatures' registry: what each signature id stands for, kept by the deriver.

Runs and ``rollup_errors`` keep only a failed run's signature id. This derived-state extension
writes, once per signature and project, its parts (the failing step's kind and name, the error
type, the message template) so that ``GET /v1/failures`` can name it. A signature's parts are a
function of its id, so a row is never updated. A batch costs one lookup of the ids it has not
seen in the table before, and an insert of those that are new.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from mapping.failure_signature import FailureSignature, signature_of_run
from storage.derived_extensions import TraceChange
from storage.derived_rows import RUN_INDEX

MAX_REMEMBERED = 100_000

_SELECT_EXISTING = """
SELECT f.project_id, f.signature
FROM unnest(%s::int4[], %s::text[]) AS k(project_id, signature)
JOIN failure_signatures f ON f.project_id = k.project_id AND f.signature = k.signature
"""
_INSERT = """
INSERT INTO failure_signatures
    (project_id, signature, kind, name, error_type, message_template, first_agent)
SELECT * FROM unnest(%s::int4[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                     %s::text[])
ON CONFLICT (project_id, signature) DO NOTHING
"""


def _signatures_of(change: TraceChange, missing: set[tuple[int, str]]) -> list[FailureSignature]:
    """The signatures of the trace's failed runs whose ids are ``missing``."""
    if change.derived is None:
        return []
    signature_at = RUN_INDEX["signature"]
    wanted = {
        row[signature_at]
        for row in change.new_rows.runs.values()
        if (change.project_id, row[signature_at]) in missing
    }
    found = []
    for run in change.derived.runs:
        if not wanted or run.status != "FAILED":
            continue
        signature = signature_of_run(run, change.derived.steps)
        if signature is not None and signature.id in wanted:
            wanted.discard(signature.id)
            found.append(signature)
    return found


class SignatureRegistry:
    """A ``DerivedExtension``: registers the signature of every failed run it sees.

    Ids confirmed in the table are remembered. Ids this process inserted are not (the batch
    that inserted them may yet roll back): they are looked up again, one query per batch."""

    name = "failure_signatures"

    def __init__(self) -> None:
        self._known: set[tuple[int, str]] = set()
        self._inserted: set[tuple[int, str]] = set()

    async def apply(
        self, conn: psycopg.AsyncConnection[Any], changes: Sequence[TraceChange]
    ) -> None:
        signature_at = RUN_INDEX["signature"]
        candidates = {
            (change.project_id, row[signature_at])
            for change in changes
            for row in change.new_rows.runs.values()
            if row[signature_at]
        } - self._known
        if not candidates:
            return
        cursor = await conn.execute(
            _SELECT_EXISTING,
            ([p for p, _ in candidates], [s for _, s in candidates]),
        )
        existing = {(int(p), str(s)) for p, s in await cursor.fetchall()}
        if len(self._known) > MAX_REMEMBERED:
            self._known.clear()
            self._inserted.clear()
        self._known.update(existing - self._inserted)
        missing = candidates - existing
        if not missing:
            return
        rows: dict[tuple[int, str], FailureSignature] = {}
        for change in changes:
            for signature in _signatures_of(change, missing):
                rows.setdefault((change.project_id, signature.id), signature)
        keys = sorted(rows)
        await conn.execute(
            _INSERT,
            (
                [project for project, _ in keys],
                [signature for _, signature in keys],
                [rows[key].kind for key in keys],
                [rows[key].name for key in keys],
                [rows[key].error_type for key in keys],
                [rows[key].message_template for key in keys],
                [rows[key].agent_name for key in keys],
            ),
        )
        self._inserted.update(keys)
