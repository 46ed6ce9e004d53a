"""Keep the resident memory of a server that handles many large requests close to its live data."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def release_free_memory() -> None:
    """Hand freed heap pages back to the system (glibc's malloc_trim); a no-op elsewhere.

    Buffers of received messages are freed in the middle of the heap, where glibc does not
    return them by itself, so without this the resident size keeps the peak of every burst.
    """
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def tune_allocator(mmap_threshold: int = 128 * 1024, arena_max: int = 2) -> bool:
    """Ask glibc to serve large buffers from mmap (returned to the system when freed) and to
    keep few arenas.

    By default glibc raises its mmap threshold after freeing a large block, so later request
    bodies land on the heap and stay resident after they are freed; gRPC's threads each add
    an arena. Returns False where the C library is not glibc.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_ARENA_MAX, arena_max)
    )
    if not applied:
        logger.debug("mallopt not applied: not glibc")
    return applied
