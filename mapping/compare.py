"""Compare two runs: their steps aligned, what changed in each aligned pair, where they diverge.

**Alignment.** Steps are aligned by ``(kind, name)`` in order with a minimum-cost edit script:
a *match* (same kind and name) costs 0, a *substitution* (same kind, another name: the agent
called another tool or model at that point) 1, an *insertion* (a step only run B has) or a
*deletion* (only run A) 1 each. Steps of different kinds are never paired: that is a deletion
and an insertion. Among alignments of equal cost the result is deterministic.

**How it scales.** The common prefix and suffix are matched first (linear). What remains is
solved exactly: directly when it has at most ``DIRECT_CELLS`` cells (rows computed with numpy,
the full cost table kept for the traceback), else by Hirschberg's divide and conquer, which
keeps two rows per split, so memory stays linear in the longer run plus one direct block and
time is about twice that of one pass over the table (numpy vectorises each row). Two unrelated
runs of 10,000 steps each take seconds (see ``bench/bench_compare.py``).

**Differences.** Each matched or substituted pair lists the fields that differ: ``status``,
``input``, ``output``, ``error_type``, ``error_message`` (what the step did) and
``duration_ms``, ``tokens``, ``cost`` (what it took; numbers carry ``delta`` = B - A).

**First divergence.** The first aligned pair where the runs stop doing the same thing: an
insertion, deletion or substitution, or a match whose status, input, output or error differs.
Durations, tokens and cost differ between any two runs and do not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from mapping.model import Step

Operation = Literal["match", "substitute", "insert", "delete"]

DIRECT_CELLS = 1 << 22
"""Largest remaining table (rows x columns) solved directly; larger ones are split."""
SUB_ROW_CACHE = 64

BEHAVIOUR_FIELDS = ("status", "input", "output", "error_type", "error_message")
MEASURE_FIELDS = ("duration_ms", "tokens", "cost")

_Costs = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class ComparedStep:
    """What comparison reads of one step. ``id`` is carried through for links."""

    kind: str
    name: str
    status: str = "SUCCESS"
    input: str | None = None
    output: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    duration_ms: float | None = None
    tokens: int | None = None
    cost: float | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    a: str | float | None
    b: str | float | None
    delta: float | None = None  # b - a, for numeric fields when both sides have a value


@dataclass(frozen=True, slots=True)
class AlignedPair:
    operation: Operation
    a_position: int | None  # position in run A's steps; None for an insertion
    b_position: int | None  # position in run B's steps; None for a deletion
    changes: tuple[FieldChange, ...] = ()

    @property
    def diverges(self) -> bool:
        """Whether the runs did something different here (see the module doc)."""
        if self.operation != "match":
            return True
        return any(change.field in BEHAVIOUR_FIELDS for change in self.changes)


@dataclass(frozen=True, slots=True)
class Comparison:
    pairs: tuple[AlignedPair, ...]
    first_divergence: int | None  # index into ``pairs``; None when the runs did the same
    distance: int  # the alignment's cost
    matches: int
    substitutions: int
    insertions: int
    deletions: int
    totals: tuple[FieldChange, ...]  # duration_ms, tokens and cost summed over each run


def _encode(
    a: Sequence[tuple[str, str]], b: Sequence[tuple[str, str]]
) -> tuple[_Costs, _Costs, _Costs, _Costs]:
    keys: dict[tuple[str, str], int] = {}
    kinds: dict[str, int] = {}

    def codes(steps: Sequence[tuple[str, str]]) -> tuple[_Costs, _Costs]:
        key_codes = [keys.setdefault(step, len(keys)) for step in steps]
        kind_codes = [kinds.setdefault(step[0], len(kinds)) for step in steps]
        return np.array(key_codes, dtype=np.int32), np.array(kind_codes, dtype=np.int32)

    a_keys, a_kinds = codes(a)
    b_keys, b_kinds = codes(b)
    return a_keys, a_kinds, b_keys, b_kinds


class _Aligner:
    """Edit distance over encoded steps. A substitution across kinds costs 2 in the tables
    (as much as a deletion plus an insertion, so the distances are the same as if it were not
    allowed) and the traceback never takes one."""

    def __init__(
        self, codes: tuple[_Costs, _Costs, _Costs, _Costs], direct_cells: int = DIRECT_CELLS
    ):
        a_keys, a_kinds, b_keys, b_kinds = codes
        self.direct_cells = direct_cells
        self.a_keys, self.a_kinds = a_keys, a_kinds
        self.b_keys, self.b_kinds = b_keys, b_kinds
        self.ops: list[tuple[Operation, int | None, int | None]] = []

    def _sub_costs(self, i: int, b_lo: int, b_hi: int) -> _Costs:
        same_key = self.b_keys[b_lo:b_hi] == self.a_keys[i]
        same_kind = self.b_kinds[b_lo:b_hi] == self.a_kinds[i]
        return np.where(same_key, 0, np.where(same_kind, 1, 2)).astype(np.int32)

    @staticmethod
    def _next_row(previous: _Costs, sub: _Costs, columns: _Costs) -> _Costs:
        # row[j] = min(previous[j] + 1, previous[j-1] + sub[j-1], row[j-1] + 1); the chain of
        # insertions along the row is a running minimum of (t[k] - k) shifted back by j.
        t = np.empty_like(previous)
        t[0] = previous[0] + 1
        np.add(previous[:-1], sub, out=t[1:])
        np.minimum(t[1:], previous[1:] + 1, out=t[1:])
        t -= columns
        np.minimum.accumulate(t, out=t)
        t += columns
        return t

    def _last_row(self, rows: range, b_lo: int, b_hi: int, reverse: bool) -> _Costs:
        columns = np.arange(b_hi - b_lo + 1, dtype=np.int32)
        row = columns.copy()
        sub_rows: dict[int, _Costs] = {}
        for i in rows:
            sub = self._cached_sub_costs(sub_rows, i, b_lo, b_hi, reverse)
            row = self._next_row(row, sub, columns)
        return row

    def _cached_sub_costs(
        self, cache: dict[int, _Costs], i: int, b_lo: int, b_hi: int, reverse: bool
    ) -> _Costs:
        # Runs repeat a few (kind, name) keys many times: one cost row per distinct key, for
        # at most SUB_ROW_CACHE keys (a run of all-different names would fill memory).
        key = int(self.a_keys[i])
        sub = cache.get(key)
        if sub is None:
            sub = self._sub_costs(i, b_lo, b_hi)
            if reverse:
                sub = np.ascontiguousarray(sub[::-1])
            if len(cache) < SUB_ROW_CACHE:
                cache[key] = sub
        return sub

    def _direct(self, a_lo: int, a_hi: int, b_lo: int, b_hi: int) -> None:
        n, m = a_hi - a_lo, b_hi - b_lo
        columns = np.arange(m + 1, dtype=np.int32)
        table = np.empty((n + 1, m + 1), dtype=np.int32)
        table[0] = columns
        sub_rows: dict[int, _Costs] = {}
        for i in range(n):
            sub = self._cached_sub_costs(sub_rows, a_lo + i, b_lo, b_hi, reverse=False)
            table[i + 1] = self._next_row(table[i], sub, columns)
        ops: list[tuple[Operation, int | None, int | None]] = []
        i, j = n, m
        while i > 0 or j > 0:
            here = int(table[i, j])
            if i > 0 and j > 0:
                ai, bj = a_lo + i - 1, b_lo + j - 1
                if self.a_keys[ai] == self.b_keys[bj] and here == table[i - 1, j - 1]:
                    ops.append(("match", ai, bj))
                    i, j = i - 1, j - 1
                    continue
                if self.a_kinds[ai] == self.b_kinds[bj] and here == table[i - 1, j - 1] + 1:
                    ops.append(("substitute", ai, bj))
                    i, j = i - 1, j - 1
                    continue
            # Tracing back, insertions are taken first so that, read forward, what run A did
            # comes before what run B did instead.
            if j > 0 and here == table[i, j - 1] + 1:
                ops.append(("insert", None, b_lo + j - 1))
                j -= 1
            else:
                ops.append(("delete", a_lo + i - 1, None))
                i -= 1
        self.ops.extend(reversed(ops))

    def align(self, a_lo: int, a_hi: int, b_lo: int, b_hi: int) -> None:
        """Append the edit script of a[a_lo:a_hi] against b[b_lo:b_hi] to ``self.ops``."""
        # An explicit stack (right half pushed first) keeps the script in order without
        # recursion; Hirschberg's split is at the middle row of A.
        stack = [(a_lo, a_hi, b_lo, b_hi)]
        while stack:
            a_lo, a_hi, b_lo, b_hi = stack.pop()
            n, m = a_hi - a_lo, b_hi - b_lo
            if n * m <= self.direct_cells or n < 2:
                self._direct(a_lo, a_hi, b_lo, b_hi)
                continue
            middle = a_lo + n // 2
            forward = self._last_row(range(a_lo, middle), b_lo, b_hi, reverse=False)
            backward = self._last_row(range(a_hi - 1, middle - 1, -1), b_lo, b_hi, reverse=True)
            split = b_lo + int(np.argmin(forward + backward[::-1]))
            stack.append((middle, a_hi, split, b_hi))
            stack.append((a_lo, middle, b_lo, split))


def align(
    a: Sequence[tuple[str, str]],
    b: Sequence[tuple[str, str]],
    *,
    direct_cells: int = DIRECT_CELLS,
) -> list[tuple[Operation, int | None, int | None]]:
    """A minimum-cost edit script turning ``a`` into ``b`` (sequences of ``(kind, name)``):
    ``(operation, a_position, b_position)`` in order (costs in the module doc). Tables larger
    than ``direct_cells`` are split (Hirschberg)."""
    prefix = 0
    while prefix < len(a) and prefix < len(b) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < len(a) - prefix
        and suffix < len(b) - prefix
        and a[len(a) - 1 - suffix] == b[len(b) - 1 - suffix]
    ):
        suffix += 1
    ops: list[tuple[Operation, int | None, int | None]] = [("match", i, i) for i in range(prefix)]
    aligner = _Aligner(_encode(a, b), direct_cells)
    aligner.align(prefix, len(a) - suffix, prefix, len(b) - suffix)
    ops += aligner.ops
    ops += [
        ("match", len(a) - suffix + k, len(b) - suffix + k) for k in range(suffix)
    ]  # fmt: skip
    return ops


def _changes(a: ComparedStep, b: ComparedStep) -> tuple[FieldChange, ...]:
    changes: list[FieldChange] = []
    for field in BEHAVIOUR_FIELDS:
        before, after = getattr(a, field), getattr(b, field)
        if before != after:
            changes.append(FieldChange(field, before, after))
    for field in MEASURE_FIELDS:
        before, after = getattr(a, field), getattr(b, field)
        if before != after:
            delta = after - before if before is not None and after is not None else None
            changes.append(FieldChange(field, before, after, delta))
    return tuple(changes)


def _total(steps: Sequence[ComparedStep], field: str) -> float | None:
    values = [getattr(step, field) for step in steps if getattr(step, field) is not None]
    return sum(values) if values else None


def compare_runs(a: Sequence[ComparedStep], b: Sequence[ComparedStep]) -> Comparison:
    """Run A's steps against run B's, each in run order (see the module doc)."""
    script = align([(s.kind, s.name) for s in a], [(s.kind, s.name) for s in b])
    pairs = []
    for operation, i, j in script:
        changes = _changes(a[i], b[j]) if i is not None and j is not None else ()
        pairs.append(AlignedPair(operation, i, j, changes))
    counts = {operation: 0 for operation in ("match", "substitute", "insert", "delete")}
    for pair in pairs:
        counts[pair.operation] += 1
    totals = []
    for field in MEASURE_FIELDS:
        before, after = _total(a, field), _total(b, field)
        delta = after - before if before is not None and after is not None else None
        totals.append(FieldChange(field, before, after, delta))
    return Comparison(
        pairs=tuple(pairs),
        first_divergence=next((k for k, pair in enumerate(pairs) if pair.diverges), None),
        distance=counts["substitute"] + counts["insert"] + counts["delete"],
        matches=counts["match"],
        substitutions=counts["substitute"],
        insertions=counts["insert"],
        deletions=counts["delete"],
        totals=tuple(totals),
    )


def compared_step(step: Step, cost: float | None = None) -> ComparedStep:
    """A derived step as comparison sees it; ``cost`` comes from wherever costs are kept."""
    duration = (step.end_ns - step.start_ns) / 1e6 if step.end_ns is not None else None
    return ComparedStep(
        kind=step.kind,
        name=step.tool_name or step.model or step.name,
        status=step.status,
        input=step.input,
        output=step.output,
        error_type=step.error_type,
        error_message=step.error_message,
        duration_ms=duration,
        tokens=step.total_tokens,
        cost=cost,
        id=step.id,
    )
