"""Which runs the deriver queues for embedding: finished runs whose row changed, and runs that
are gone; never a run still running, never an unchanged one."""

from __future__ import annotations

from typing import Any

from storage.derived_extensions import TraceChange
from storage.derived_rows import RUN_COLUMNS, RUN_INDEX, TraceRows
from storage.run_embeddings import runs_to_embed


def run_row(span: bytes, status: str, start_ns: int, output: str = "done") -> tuple[Any, ...]:
    row: list[Any] = [None] * len(RUN_COLUMNS)
    row[RUN_INDEX["span_id"]] = span
    row[RUN_INDEX["status"]] = status
    row[RUN_INDEX["start_ns"]] = start_ns
    row[RUN_INDEX["output"]] = output
    return tuple(row)


def change(old: list[tuple[Any, ...]], new: list[tuple[Any, ...]]) -> TraceChange:
    span_at = RUN_INDEX["span_id"]
    return TraceChange(
        project_id=1,
        trace_id=b"t" * 16,
        old_rows=TraceRows(runs={row[span_at]: row for row in old}),
        new_rows=TraceRows(runs={row[span_at]: row for row in new}),
        derived=None,
        facts={},
        costs=None,
        new_spans={},
    )


def test_a_run_is_queued_when_it_finishes_and_again_when_it_changes() -> None:
    running = run_row(b"a" * 8, "RUNNING", 10)
    finished = run_row(b"a" * 8, "SUCCESS", 10)
    changed = run_row(b"a" * 8, "SUCCESS", 10, output="done, with a late span")
    assert runs_to_embed(change([], [running])) == []
    assert runs_to_embed(change([running], [finished])) == [(b"a" * 8, 10)]
    assert runs_to_embed(change([finished], [finished])) == []
    assert runs_to_embed(change([finished], [changed])) == [(b"a" * 8, 10)]


def test_failed_and_cancelled_runs_are_queued_and_gone_runs_too() -> None:
    failed = run_row(b"f" * 8, "FAILED", 20)
    cancelled = run_row(b"c" * 8, "CANCELLED", 30)
    pending = run_row(b"p" * 8, "PENDING", 40)
    gone = run_row(b"g" * 8, "SUCCESS", 50)
    queued = runs_to_embed(change([gone], [failed, cancelled, pending]))
    assert sorted(queued) == [(b"c" * 8, 30), (b"f" * 8, 20), (b"g" * 8, 50)]
