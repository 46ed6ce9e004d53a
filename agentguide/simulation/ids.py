"""Ids seeded per run, so a seed reproduces trace and span ids whatever the thread
interleaving: :class:`RunSeededIdGenerator`."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from contextvars import ContextVar

from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

__all__ = ["RunSeededIdGenerator", "seeded_ids"]

_run_id_rng: ContextVar[random.Random | None] = ContextVar(
    "agentguide_simulate_id_rng", default=None
)


class RunSeededIdGenerator(IdGenerator):
    """Draws ids from the current simulated run's seeded generator, else at random.

    :func:`generate_into` activates a generator per run, so the ids of a run depend only on
    the seed and the run's number, never on which thread made it or when.
    """

    def __init__(self) -> None:
        self._fallback = RandomIdGenerator()

    def generate_span_id(self) -> int:
        rng = _run_id_rng.get()
        if rng is None:
            return self._fallback.generate_span_id()
        return _nonzero_bits(rng, 64)

    def generate_trace_id(self) -> int:
        rng = _run_id_rng.get()
        if rng is None:
            return self._fallback.generate_trace_id()
        return _nonzero_bits(rng, 128)

    def is_trace_id_random(self) -> bool:
        return True


def _nonzero_bits(rng: random.Random, bits: int) -> int:
    value = 0
    while value == 0:
        value = rng.getrandbits(bits)
    return value


@contextlib.contextmanager
def seeded_ids(rng: random.Random) -> Iterator[None]:
    """Within the block, a :class:`RunSeededIdGenerator` draws its ids from ``rng``."""
    token = _run_id_rng.set(rng)
    try:
        yield
    finally:
        _run_id_rng.reset(token)
