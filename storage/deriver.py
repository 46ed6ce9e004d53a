"""The deriver: keeps runs, steps and rollups in step with the stored spans, and never stops.

Each batch is one transaction: claim dirty traces, lock them (per-trace advisory locks, the
same the REST API and retention take), read the spans that changed since the trace was last
derived, map them, derive the trace again (a pure function of all its spans' facts), and
write only the rows that differ, with the rollups' difference and the registry's new version.

Isolation: only an error meaning "the database cannot be used now" stops a batch and pauses
the deriver. Any other failure — a span that does not map, a derivation that raises, rows the
database refuses — belongs to one trace: that trace goes to the quarantine with its error and
a backoff, and the rest of the batch is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from psycopg_pool import AsyncConnectionPool

from mapping import derive_trace, span_facts
from mapping.failure_signature import signature_of_run
from mapping.log_events import with_log_events
from mapping.model import DerivedTrace, SpanFacts
from mapping.pricing import PriceOverrides
from mapping.trace_costs import TraceCosts, price_trace
from mapping.version import MAPPING_VERSION
from mapping.wire import readable
from storage.codec import decode_block, span_ids_of
from storage.derive_queue import ClaimedTrace, PostgresDeriveQueue
from storage.derived_extensions import DerivedExtension, TraceChange
from storage.derived_rows import RUN_PREVIEW_CHARS, TraceRows, diff_rows, trace_rows
from storage.derived_writer import PostgresDerivedRowWriter, RegistryEntry, TraceUpdate
from storage.errors import means_transient, means_unreachable
from storage.locks import hold_partitions_steady, lock_traces
from storage.log_index import LogIndex
from storage.score_writer import replace_event_scores
from storage.search_index import SearchIndex
from storage.trace_cache import CachedSpan, CachedTrace, TraceCache

logger = logging.getLogger(__name__)

DEFAULT_BATCH_TRACES = 200
# Spans a batch holds at most (a trace bigger than this is a batch of its own): bounds memory.
DEFAULT_BATCH_SPANS = 20_000
_PARSED_CACHE_SIZE = 10_000

# A trace's blocks (storage.codec): without their bytes (which spans are where), and with.
_SELECT_BLOCKS = """
SELECT trace_id, block_id, content_hash, start_ns, span_ids, resource_id, scope_id
FROM spans WHERE project_id = %s AND trace_id = ANY(%s) AND start_ns BETWEEN %s AND %s
"""
_SELECT_BLOCKS_WITH_SPANS = """
SELECT trace_id, block_id, content_hash, start_ns, span_ids, resource_id, scope_id, spans
FROM spans WHERE project_id = %s AND trace_id = ANY(%s) AND start_ns BETWEEN %s AND %s
"""
_SELECT_BLOCKS_BY_KEY = """
SELECT s.trace_id, s.block_id, s.content_hash, s.start_ns, s.span_ids, s.resource_id,
       s.scope_id, s.spans
FROM unnest(%s::bytea[], %s::int8[], %s::int8[]) AS k(trace_id, content_hash, start_ns)
JOIN spans s ON s.trace_id = k.trace_id AND s.project_id = %s
            AND s.content_hash = k.content_hash AND s.start_ns = k.start_ns
WHERE s.start_ns BETWEEN %s AND %s
"""
_SELECT_RESOURCES = """
SELECT resource_id, resource FROM resources WHERE project_id = %s AND resource_id = ANY(%s)
"""
_SELECT_SCOPES = """
SELECT scope_id, scope FROM scopes WHERE project_id = %s AND scope_id = ANY(%s)
"""


@dataclass(slots=True)
class BatchResult:
    """What one batch did."""

    traces: int = 0
    spans: int = 0  # spans of the derived traces
    spans_mapped: int = 0  # of which mapped now (the rest came from the cache)
    quarantined: int = 0
    rows_written: int = 0
    mapping_s: float = 0.0
    background: int = 0
    lag_s: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _TraceWork:
    claim: ClaimedTrace
    registry: RegistryEntry | None
    cached: CachedTrace | None
    spans: dict[bytes, CachedSpan] = field(default_factory=dict)
    error: str | None = None
    change: TraceChange | None = None
    parsed: dict[str, tuple[Span, Resource, InstrumentationScope]] = field(default_factory=dict)


def _winning_blocks(
    rows: Sequence[tuple[Any, ...]],
) -> list[tuple[bytes, bytes, tuple[Any, ...]]]:
    """(trace id, span id, block row) for each span of the blocks, from the earliest block
    holding it (a span re-delivered in another block is read once, as first stored)."""
    winners: dict[tuple[bytes, bytes], tuple[Any, ...]] = {}
    for row in sorted(rows, key=lambda row: row[1]):
        trace_id = bytes(row[0])
        for span_id in span_ids_of(bytes(row[4])):
            winners.setdefault((trace_id, span_id), row)
    return [(trace_id, span_id, row) for (trace_id, span_id), row in winners.items()]


def _block_spans(
    blocks: Sequence[tuple[Any, ...]], wanted: dict[bytes, set[bytes]]
) -> list[tuple[bytes, bytes, tuple[Any, ...], bytes]]:
    """(trace id, span id, block row, serialized span) of the spans to map: of a trace in
    ``wanted`` only those span ids, of any other trace every span, each from its earliest
    block."""
    found: dict[tuple[bytes, bytes], tuple[tuple[Any, ...], bytes]] = {}
    for row in sorted(blocks, key=lambda row: row[1]):
        trace_id = bytes(row[0])
        only = wanted.get(trace_id)
        ids = span_ids_of(bytes(row[4]))
        if only is not None and only.isdisjoint(ids):
            continue
        if all((trace_id, span_id) in found for span_id in ids):
            continue
        for span_id, span in zip(ids, decode_block(bytes(row[7])), strict=True):
            if (only is None or span_id in only) and (trace_id, span_id) not in found:
                found[(trace_id, span_id)] = (row, span)
    return [(t, s, row, span) for (t, s), (row, span) in found.items()]


def _trim(facts: SpanFacts) -> SpanFacts:
    """Facts as the stored rows need them, changed in place (they were just mapped, nothing
    else holds them): payloads cut to the longest preview, artifacts dropped (a detail view
    maps the raw span again). Keeps the cache small. An LLM call's messages stay whole: a run
    without its own input and output reads the user's request and the final answer from them."""
    if facts.artifacts:
        facts.artifacts = []
    if facts.category == "llm":
        return facts
    if facts.input is not None and len(facts.input) > RUN_PREVIEW_CHARS:
        facts.input = facts.input[:RUN_PREVIEW_CHARS]
        facts.input_truncated = True
    if facts.output is not None and len(facts.output) > RUN_PREVIEW_CHARS:
        facts.output = facts.output[:RUN_PREVIEW_CHARS]
        facts.output_truncated = True
    if facts.error_message is not None and len(facts.error_message) > RUN_PREVIEW_CHARS:
        facts.error_message = facts.error_message[:RUN_PREVIEW_CHARS]
    return facts


class PriceOverridesSource(Protocol):
    """The price overrides of a project as committed now (``storage.prices.PriceOverrideCache``),
    asked once per project and batch, inside the batch's transaction."""

    async def __call__(
        self, conn: psycopg.AsyncConnection[Any], project_id: int
    ) -> PriceOverrides | None: ...


async def _no_overrides(conn: psycopg.AsyncConnection[Any], project_id: int) -> None:
    return None


def _signatures(derived: DerivedTrace) -> dict[str, str]:
    """The failure signature id of each failed run."""
    signatures = {}
    for run in derived.runs:
        if run.status == "FAILED":
            found = signature_of_run(run, derived.steps)
            if found is not None:
                signatures[run.id] = found.id
    return signatures


class DeriveEngine:
    """Derives batches of dirty traces; one per deriver process."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        queue: PostgresDeriveQueue | None = None,
        writer: PostgresDerivedRowWriter | None = None,
        cache: TraceCache | None = None,
        shard: tuple[int, int] | None = None,
        mapping_version: int = MAPPING_VERSION,
        batch_traces: int = DEFAULT_BATCH_TRACES,
        batch_spans: int = DEFAULT_BATCH_SPANS,
        extensions: Sequence[DerivedExtension] = (),
        price_overrides: PriceOverridesSource = _no_overrides,
    ) -> None:
        self.pool = pool
        self.queue = queue or PostgresDeriveQueue(pool)
        self.writer = writer or PostgresDerivedRowWriter()
        self.cache = cache if cache is not None else TraceCache()
        self.shard = shard
        self.mapping_version = mapping_version
        self.batch_traces = batch_traces
        self.batch_spans = batch_spans
        # Search documents are derived state every deployment keeps; the rest is optional.
        self.extensions: list[DerivedExtension] = [SearchIndex(), *extensions]
        self._keep_parsed = bool(extensions)  # SearchIndex reads the facts, not the spans
        self.price_overrides = price_overrides
        self._resources: dict[tuple[int, int], Resource] = {}
        self._scopes: dict[tuple[int, int], InstrumentationScope] = {}

    async def derive_batch(self) -> BatchResult | None:
        """Claim and derive one batch; None when nothing was dirty. Raises on an error that
        means the database cannot be used now (the claims roll back: nothing is lost)."""
        for attempt in range(3):
            try:
                return await self._derive_batch()
            except Exception as exc:
                if means_transient(exc) and attempt < 2:
                    logger.info("derivation batch conflicted, trying again: %s", exc)
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                raise
        return None

    async def _derive_batch(self) -> BatchResult | None:
        result = BatchResult()
        async with self.pool.connection() as conn, conn.transaction():
            claims = await self.queue.claim(conn, self.batch_traces, self.shard)
            if not claims:
                return None
            await hold_partitions_steady(conn)
            await lock_traces(conn, [(c.project_id, c.trace_id) for c in claims])
            by_project: dict[int, list[ClaimedTrace]] = defaultdict(list)
            for claim in claims:
                by_project[claim.project_id].append(claim)
            registries = {
                project_id: await self.writer.registry(
                    conn, project_id, [c.trace_id for c in project_claims]
                )
                for project_id, project_claims in by_project.items()
            }
            kept, excess = self._within_budget(claims, registries)
            await self.queue.unclaim(conn, excess)
            by_project = defaultdict(list)
            for claim in kept:
                by_project[claim.project_id].append(claim)
            pending_cache: list[tuple[tuple[int, bytes], CachedTrace]] = []
            for project_id, project_claims in sorted(by_project.items()):
                pending_cache += await self._derive_project(
                    conn, project_id, project_claims, registries[project_id], result
                )
            result.lag_s = [max(0.0, time.time() - c.marked_at) for c in kept]
        for key, entry in pending_cache:
            self.cache.put(key, entry)
        return result

    def _within_budget(
        self,
        claims: list[ClaimedTrace],
        registries: dict[int, dict[bytes, RegistryEntry]],
    ) -> tuple[list[ClaimedTrace], list[ClaimedTrace]]:
        """The claims whose spans (stored and new) fit the batch's budget, oldest marks
        first and at least one; and the rest, to give back."""
        ordered = sorted(claims, key=lambda c: (c.background, c.marked_at))
        kept: list[ClaimedTrace] = []
        total = 0
        for position, claim in enumerate(ordered):
            known = registries[claim.project_id].get(claim.trace_id)
            size = claim.spans + (known.span_count if known is not None else 0)
            if kept and total + size > self.batch_spans:
                return kept, ordered[position:]
            kept.append(claim)
            total += size
        return kept, []

    async def _derive_project(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        claims: list[ClaimedTrace],
        registry: dict[bytes, RegistryEntry],
        result: BatchResult,
    ) -> list[tuple[tuple[int, bytes], CachedTrace]]:
        claims = await self.queue.with_quarantine_ranges(conn, project_id, claims)
        work = {
            c.trace_id: _TraceWork(
                claim=c,
                registry=registry.get(c.trace_id),
                cached=self.cache.get(
                    (project_id, c.trace_id),
                    registry[c.trace_id].derive_version if c.trace_id in registry else None,
                ),
            )
            for c in claims
        }
        await self._read_spans(conn, project_id, work, result)
        overrides = await self.price_overrides(conn, project_id)

        missing_rows = {
            t: w.registry for t, w in work.items() if w.cached is None and w.registry is not None
        }
        stored = await self.writer.stored_rows(conn, project_id, missing_rows)  # type: ignore[arg-type]

        updates: list[TraceUpdate] = []
        started = time.perf_counter()
        for trace_id, item in work.items():
            if item.error is not None:
                continue
            old = item.cached.rows if item.cached is not None else stored.get(trace_id, TraceRows())
            try:
                update = self._update(project_id, item, old, overrides)
            except Exception as exc:  # a derivation that raises is this trace's problem alone
                logger.exception("cannot derive trace %s", trace_id.hex())
                item.error = f"derivation failed: {type(exc).__name__}: {exc}"
                continue
            updates.append(update)
        result.mapping_s += time.perf_counter() - started

        versions = await self._write(conn, project_id, updates, work)
        failures = [(w.claim, w.error) for w in work.values() if w.error is not None]
        await self.queue.quarantine(conn, failures)  # type: ignore[arg-type]
        await self.queue.release(conn, project_id, [t for t, w in work.items() if w.error is None])
        result.quarantined += len(failures)
        cache_entries = []
        for update in updates:
            item = work[update.trace_id]
            if item.error is not None:
                continue
            result.traces += 1
            result.spans += len(item.spans)
            result.rows_written += len(update.runs.inserted) + len(update.steps.inserted)
            if item.claim.background:
                result.background += 1
            version = versions.get(update.trace_id)
            if version is not None:
                cache_entries.append(
                    (
                        (project_id, update.trace_id),
                        CachedTrace(version, item.spans, update.new_rows),
                    )
                )
        return cache_entries

    def _update(
        self,
        project_id: int,
        item: _TraceWork,
        old: TraceRows,
        overrides: PriceOverrides | None = None,
    ) -> TraceUpdate:
        facts = [cached.facts for cached in item.spans.values()]
        trace_id = item.claim.trace_id
        derived: DerivedTrace | None = None
        costs: TraceCosts | None = None
        if facts:
            derived = derive_trace(facts)
            costs = price_trace(derived, {f.span_id: f for f in facts}, overrides)
            new = trace_rows(
                trace_id, project_id, derived, self.mapping_version, _signatures(derived), costs
            )
            starts = [cached.start_ns for cached in item.spans.values()]
            span_range: tuple[int | None, int | None] = (min(starts), max(starts))
            agents = derived.agents
        else:  # every span is gone (retention): so go the rows
            new = TraceRows()
            span_range = (None, None)
            agents = []
        item.change = TraceChange(
            project_id=project_id,
            trace_id=trace_id,
            old_rows=old,
            new_rows=new,
            derived=derived,
            facts={f.span_id: f for f in facts},
            costs=costs,
            new_spans=item.parsed,
        )
        update = TraceUpdate(
            trace_id=trace_id,
            runs=diff_rows(old.runs, new.runs),
            steps=diff_rows(old.steps, new.steps),
            new_rows=new,
            agents=agents,
            spans_from_ns=span_range[0],
            spans_to_ns=span_range[1],
            span_count=len(facts),
            old_rows=old,
        )
        return update

    async def _write(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        updates: list[TraceUpdate],
        work: dict[bytes, _TraceWork],
    ) -> dict[bytes, int]:
        """Write every update — each trace's own rows, then what traces share (last: every
        deriver locks those rows) — and when the database refuses the batch, write trace by
        trace and quarantine the traces it refuses."""
        if not updates:
            return {}
        try:
            async with conn.transaction():
                written = await self.writer.write(conn, project_id, updates, self.mapping_version)
                await self._extend(conn, [work[u.trace_id] for u in updates])
                await self.writer.write_totals(conn, project_id, updates)
                return written
        except Exception as exc:
            if means_unreachable(exc) or means_transient(exc):
                raise
            logger.warning("writing derived rows failed (%s); writing trace by trace", exc)
        versions: dict[bytes, int] = {}
        for update in updates:
            try:
                async with conn.transaction():
                    versions.update(
                        await self.writer.write(conn, project_id, [update], self.mapping_version)
                    )
                    await self._extend(conn, [work[update.trace_id]])
                    await self.writer.write_totals(conn, project_id, [update])
            except Exception as exc:
                if means_unreachable(exc) or means_transient(exc):
                    raise
                logger.warning("cannot store the runs of trace %s: %s", update.trace_id.hex(), exc)
                work[update.trace_id].error = f"the database refused its rows: {exc}"
        return versions

    async def _extend(
        self, conn: psycopg.AsyncConnection[Any], items: Sequence[_TraceWork]
    ) -> None:
        changes = [item.change for item in items if item.change is not None]
        if changes:
            await replace_event_scores(conn, changes[0].project_id, changes)
        for extension in self.extensions:
            if changes:
                await extension.apply(conn, changes)

    async def _read_spans(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        work: dict[bytes, _TraceWork],
        result: BatchResult,
    ) -> None:
        """Fill each trace's spans: cached facts for spans whose block is unchanged, mapped
        ones for the rest. Each span is read from the earliest block holding it."""
        log_index = await LogIndex.read(conn, project_id, list(work))
        fresh = [t for t, w in work.items() if w.cached is None]
        cached = [t for t, w in work.items() if w.cached is not None]
        blocks: list[tuple[Any, ...]] = []  # rows with the block's bytes
        wanted: dict[bytes, set[bytes]] = {}  # trace: span ids to map (None: all)
        if fresh:
            low, high = self._range(work, fresh)
            cursor = await conn.execute(
                _SELECT_BLOCKS_WITH_SPANS, (project_id, fresh, low, high), binary=True
            )
            blocks += await cursor.fetchall()
        if cached:
            low, high = self._range(work, cached)
            cursor = await conn.execute(
                _SELECT_BLOCKS, (project_id, cached, low, high), binary=True
            )
            needed: dict[tuple[bytes, int, int], None] = {}
            for trace_id, span_id, block in _winning_blocks(await cursor.fetchall()):
                entry = work[trace_id].cached
                assert entry is not None
                known = entry.spans.get(span_id)
                if (
                    known is not None
                    and known.version == block[1]
                    and known.logs == log_index.blocks_of(trace_id, span_id)
                ):
                    work[trace_id].spans[span_id] = known
                else:
                    wanted.setdefault(trace_id, set()).add(span_id)
                    needed[(trace_id, block[2], block[3])] = None
            if needed:
                keys = list(needed)
                cursor = await conn.execute(
                    _SELECT_BLOCKS_BY_KEY,
                    (
                        [k[0] for k in keys],
                        [k[1] for k in keys],
                        [k[2] for k in keys],
                        project_id,
                        min(k[2] for k in keys),
                        max(k[2] for k in keys),
                    ),
                    binary=True,
                )
                blocks += await cursor.fetchall()
        if not blocks:
            return
        resources = await self._parsed(
            conn, _SELECT_RESOURCES, project_id, {row[5] for row in blocks}, Resource,
            self._resources,
        )  # fmt: skip
        scopes = await self._parsed(
            conn, _SELECT_SCOPES, project_id, {row[6] for row in blocks}, InstrumentationScope,
            self._scopes,
        )  # fmt: skip
        to_map = _block_spans(blocks, wanted)
        events = await log_index.records(
            conn, project_id, [(trace_id, span_id) for trace_id, span_id, _, _ in to_map]
        )
        started = time.perf_counter()
        for trace_id, span_id, block, span in to_map:
            item = work[trace_id]
            if item.error is not None:
                continue
            _, block_id, _, start_ns, _, resource_id, scope_id, _ = block
            try:
                parsed = readable(Span, span)
                records = events.get((trace_id, span_id))
                if records:
                    parsed = with_log_events(parsed, records)
                resource = resources.get(resource_id)
                scope = scopes.get(scope_id)
                if isinstance(resource, Exception) or isinstance(scope, Exception):
                    raise ValueError(f"its resource or scope does not parse: {resource or scope}")
                facts = _trim(
                    span_facts(parsed, resource or Resource(), scope or InstrumentationScope())
                )
            except Exception as exc:  # a span that does not map is its trace's problem alone
                logger.warning("cannot map a span of trace %s: %s", trace_id.hex(), exc)
                item.error = f"a span does not map ({span_id.hex()}): {type(exc).__name__}: {exc}"
                continue
            item.spans[span_id] = CachedSpan(
                block_id, start_ns, facts, log_index.blocks_of(trace_id, span_id)
            )
            if self._keep_parsed:
                item.parsed[facts.span_id] = (
                    parsed,
                    resource or Resource(),
                    scope or InstrumentationScope(),
                )
            result.spans_mapped += 1
        result.mapping_s += time.perf_counter() - started

    @staticmethod
    def _range(work: dict[bytes, _TraceWork], trace_ids: Sequence[bytes]) -> tuple[int, int]:
        """The start times to read for these traces: their stored spans' and their new ones'."""
        lows, highs = [], []
        for trace_id in trace_ids:
            item = work[trace_id]
            lows.append(item.claim.from_ns)
            highs.append(item.claim.to_ns)
            if item.registry is not None:
                lows.append(item.registry.spans_from_ns)
                highs.append(item.registry.spans_to_ns)
        return min(lows), max(highs)

    @staticmethod
    async def _parsed(
        conn: psycopg.AsyncConnection[Any],
        query: str,
        project_id: int,
        ids: set[int],
        message_type: Any,
        cache: dict[tuple[int, int], Any],
    ) -> dict[int, Any]:
        """Resources or scopes by id, parsed once and kept (they never change); one that does
        not parse at all is its exception, for the traces that use it to fail alone."""
        found = {i: cache[(project_id, i)] for i in ids if (project_id, i) in cache}
        missing = [i for i in ids if i not in found]
        if missing:
            cursor = await conn.execute(query, (project_id, missing), binary=True)
            for content_id, payload in await cursor.fetchall():
                try:
                    parsed = readable(message_type, bytes(payload))
                except Exception as exc:
                    parsed = exc
                if len(cache) >= _PARSED_CACHE_SIZE:
                    cache.clear()
                cache[(project_id, content_id)] = parsed
                found[content_id] = parsed
        return found


class Deriver:
    """The loop of a deriver process: derives soon after a wake-up, polls for traces left by
    other receivers, puts quarantined traces back when their backoff is over, and pauses
    while the database is unreachable.

    ``coalesce_s`` is how long it waits after a wake-up, so a trace arriving in many small
    requests is derived a few times rather than once per request. ``on_batch`` is told about
    every batch derived.
    """

    def __init__(
        self,
        engine: DeriveEngine,
        *,
        poll_s: float = 1.0,
        coalesce_s: float = 0.05,
        max_rest_s: float = 0.25,
        requeue_every_s: float = 5.0,
        on_batch: Callable[[BatchResult, float], None] | None = None,
        on_pause: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self.coalesce_s = coalesce_s
        self.max_rest_s = max_rest_s
        self.requeue_every_s = requeue_every_s
        self.on_batch = on_batch
        self.on_pause = on_pause
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_requeue = 0.0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Ask ``run`` to finish what is dirty now and return."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        rest_s = self.coalesce_s
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                await asyncio.sleep(rest_s)
            self._wake.clear()
            started = time.monotonic()
            await self.derive_until_clean()
            rest_s = min(self.max_rest_s, max(self.coalesce_s, time.monotonic() - started))
        await self.derive_until_clean()

    async def derive_until_clean(self) -> None:
        try:
            await self._requeue_due()
            while True:
                started = time.perf_counter()
                result = await self.engine.derive_batch()
                if result is None:
                    break
                if self.on_batch is not None:
                    self.on_batch(result, time.perf_counter() - started)
        except Exception as exc:
            if means_unreachable(exc):
                logger.warning("deriving runs paused, the database is unavailable: %s", exc)
            else:  # a bug of ours outside any one trace: keep going, loudly
                logger.exception("a derivation batch failed; its traces stay dirty")
            if self.on_pause is not None:
                self.on_pause()
            await asyncio.sleep(self.poll_s)

    async def _requeue_due(self) -> None:
        now = time.monotonic()
        if now - self._last_requeue >= self.requeue_every_s:
            self._last_requeue = now
            await self.engine.queue.requeue_due()


async def derive_all_pending(
    engine: DeriveEngine, after_batch: Callable[[], None] | None = None
) -> int:
    """Derive until no trace is dirty (tests, benchmarks, one-shot tools); traces derived.
    ``after_batch`` is called after each batch."""
    total = 0
    while (result := await engine.derive_batch()) is not None:
        total += result.traces + result.quarantined
        if after_batch is not None:
            after_batch()
    return total
