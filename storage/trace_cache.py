"""What a deriver remembers of the traces it derived, so deriving one again costs what changed.

Per trace: the version the registry gave its last derivation, each span's block id and the
ids of the log blocks with records of that span (its events) with its mapping facts, and the
rows written. An entry is used only
when its version is still the registry's: any other deriver (another process or server) that
derived the trace meanwhile bumped the version, and the entry is ignored. Entries are evicted
least recently used, by an estimate of the bytes they hold.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from mapping.model import SpanFacts
from storage.derived_rows import TraceRows

TraceKey = tuple[int, bytes]
DEFAULT_CACHE_BYTES = 96 * 1024 * 1024
_FACTS_OVERHEAD = 900  # bytes of a SpanFacts beyond its strings


# Bytes of an attribute pair: a tuple, a key string and a value, with text of a typical length
# (measuring each pair's text cost about 3% of a derive worker's CPU for an estimate).
_PAIR_BYTES = 180


def facts_size(facts: SpanFacts) -> int:
    return (
        _FACTS_OVERHEAD
        + len(facts.input or "")
        + len(facts.output or "")
        + len(facts.name)
        + _PAIR_BYTES * len(facts.attributes)
    )


@dataclass(slots=True)
class CachedSpan:
    version: int  # the id of the block it was read from
    start_ns: int
    facts: SpanFacts
    logs: tuple[int, ...] = ()  # the log blocks holding records of this span, when mapped


@dataclass(slots=True)
class CachedTrace:
    derive_version: int
    spans: dict[bytes, CachedSpan] = field(default_factory=dict)
    rows: TraceRows = field(default_factory=TraceRows)
    size: int = 0


class TraceCache:
    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[TraceKey, CachedTrace] = OrderedDict()

    def get(self, key: TraceKey, derive_version: int | None) -> CachedTrace | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if derive_version is None or entry.derive_version != derive_version:
            self.discard(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: TraceKey, entry: CachedTrace) -> None:
        self.discard(key)
        entry.size = sum(facts_size(s.facts) for s in entry.spans.values())
        entry.size += entry.rows.size_estimate()
        if entry.size > self.max_bytes:
            return
        # A long trace may take the whole budget: mapping it again at each of its many
        # requests would cost far more than mapping the traces it evicts once more.
        self._entries[key] = entry
        self.size += entry.size
        while self.size > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self.size -= evicted.size

    def discard(self, key: TraceKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= entry.size

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0

    def __len__(self) -> int:
        return len(self._entries)
