"""The loop the retention and compaction jobs share (agentguide.periodic_job)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from agentguide.periodic_job import PeriodicJob


class _Counting(PeriodicJob):
    def __init__(self, interval_s: float, *, first_pass_at_start: bool, stop_after: int) -> None:
        super().__init__(interval_s, first_pass_at_start=first_pass_at_start)
        self.passes: list[float] = []
        self.stop_after = stop_after

    async def run_once(self) -> None:
        self.passes.append(asyncio.get_running_loop().time())
        if len(self.passes) >= self.stop_after:
            self.stop()


@pytest.mark.parametrize("first_pass_at_start", [True, False])
def test_passes_come_every_interval_and_stop_ends_the_loop(first_pass_at_start: bool) -> None:
    async def scenario() -> tuple[float, list[float]]:
        job = _Counting(0.5, first_pass_at_start=first_pass_at_start, stop_after=3)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(job.run(), timeout=5)
        return started, job.passes

    started, passes = asyncio.run(scenario())
    assert len(passes) == 3
    first_delay = passes[0] - started
    if first_pass_at_start:
        assert first_delay < 0.25
    else:
        assert first_delay >= 0.45
    assert all(later - earlier >= 0.45 for earlier, later in itertools.pairwise(passes))


def test_a_job_stopped_before_it_runs_makes_no_pass() -> None:
    async def scenario() -> list[float]:
        job = _Counting(60, first_pass_at_start=True, stop_after=1)
        job.stop()
        await asyncio.wait_for(job.run(), timeout=5)
        return job.passes

    assert asyncio.run(scenario()) == []
