"""Keep the resident memory of a server that handles many large requests close to its live data.

The C library is looked up once per process: ``ctypes.util.find_library`` runs a subprocess
(``ldconfig``) each time it is called, which is no thing to do once a second.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

# Container allocations between two collections of the youngest generation (CPython: 700).
YOUNG_COLLECTION_THRESHOLD = 5_000
# A derive worker freezes what each batch leaves alive (``SurvivorFreezer``): its young
# objects are mostly a batch's working set, which dies with the batch.
DERIVER_YOUNG_COLLECTION_THRESHOLD = 50_000
FULL_COLLECTION_INTERVAL_S = 600.0

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_GLIBC_NAME = "libc.so.6"


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once; None where it cannot be found."""
    for name in (_GLIBC_NAME, ctypes.util.find_library("c")):
        if name is None:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def _function(name: str) -> Any:
    return getattr(_libc(), name, None)


def release_free_memory() -> None:
    """Hand freed heap pages back to the system (glibc's malloc_trim); a no-op elsewhere.

    Buffers of received messages are freed in the middle of the heap, where glibc does not
    return them by itself, so without this the resident size keeps the peak of every burst.
    """
    trim = _function("malloc_trim")
    if trim is not None:
        trim(0)


def tune_allocator(mmap_threshold: int = 128 * 1024, arena_max: int = 2) -> bool:
    """Ask glibc to serve large buffers from mmap (returned to the system when freed) and to
    keep few arenas.

    By default glibc raises its mmap threshold after freeing a large block, so later request
    bodies land on the heap and stay resident after they are freed; gRPC's threads each add
    an arena. Returns False where the C library is not glibc.
    """
    mallopt = _function("mallopt")
    if mallopt is None:
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_ARENA_MAX, arena_max)
    )
    if not applied:
        logger.debug("mallopt not applied: not glibc")
    return applied


def tune_garbage_collector(young_threshold: int = YOUNG_COLLECTION_THRESHOLD) -> None:
    """Make the cycle collector cheap for a process that allocates many short-lived objects
    and keeps a large cache: everything alive now (modules, the price catalogue, protobuf
    descriptors) is frozen out of every later collection, and the youngest generation is
    collected every ``young_threshold`` allocations instead of every 700.

    Measured deriving bench_query's traces in one process: the collector took about a quarter
    of the CPU time with CPython's defaults (25-37 µs a span), 5-11 µs so tuned (5,000 and
    10,000 alike). Call it once the process has loaded what it keeps.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, oldest)


class SurvivorFreezer:
    """Keeps the cycle collector off what a worker's batches leave alive (a deriver's cache).

    ``after_batch`` freezes every object alive then, so later collections look only at what
    later batches allocate: without it, each collection of the older generations walked the
    whole cache again, and the collector took about a tenth of a derive worker's CPU time.
    A reference cycle that became garbage during a batch is frozen with the rest and stays
    until the next full pass, which ``after_batch`` runs every ``full_collection_every_s``:
    everything is unfrozen, collected once, and frozen again.
    """

    def __init__(
        self,
        full_collection_every_s: float = FULL_COLLECTION_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.full_collection_every_s = full_collection_every_s
        self._clock = clock
        self._last_full = clock()
        self.full_collections = 0

    def after_batch(self) -> None:
        now = self._clock()
        if now - self._last_full >= self.full_collection_every_s:
            self._last_full = now
            gc.unfreeze()
            gc.collect()
            self.full_collections += 1
        gc.freeze()
