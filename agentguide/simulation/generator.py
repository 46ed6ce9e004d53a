"""The generator alone: :func:`generate_into` writes seeded agent runs into any tracer
provider and knows nothing about exporters.

Times are back-dated with explicit nanosecond timestamps (nothing sleeps): every
top-level run lasts 0.5-20 s and ends within ``time_window_s`` before the anchor time.

Determinism: the same seed and configuration give the same runs, span names, attributes,
failures and relative times, whatever the concurrency. With
:class:`~agentguide.simulation.ids.RunSeededIdGenerator` in the tracer provider (the
simulator's own providers use it) trace and span ids repeat too; with ``anchor_time_ns``
fixed, so do absolute times.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from opentelemetry import trace

from agentguide.simulation.catalogue import agent_profile
from agentguide.simulation.config import SimulationConfig
from agentguide.simulation.emitter import Emitter
from agentguide.simulation.ids import seeded_ids
from agentguide.simulation.planner import RunPlanner, ns, run_rng
from agentguide.simulation.summary import RunRecord, SimulationSummary

__all__ = ["INSTRUMENTATION_SCOPE", "generate_into", "package_version", "resolved_config"]

# The scope name predates the package's split and stays: spans of a seed must not change.
INSTRUMENTATION_SCOPE = "agentguide.simulate"


def package_version() -> str:
    """The installed agentguide version, for the instrumentation scope and resource."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentguide")
    except PackageNotFoundError:
        return "0.0.0"


def resolved_config(config: SimulationConfig) -> SimulationConfig:
    """``config`` with a seed (drawn at random when missing) and an anchor time (now)."""
    return replace(
        config,
        seed=config.seed if config.seed is not None else secrets.randbits(31),
        anchor_time_ns=config.anchor_time_ns or time.time_ns(),
    )


def generate_into(
    tracer_provider: trace.TracerProvider,
    config: SimulationConfig,
    *,
    run_indices: Iterable[int] | None = None,
    after_run: Callable[[Sequence[RunRecord], int], None] | None = None,
) -> SimulationSummary:
    """Create the spans of ``config.runs`` runs (or of ``run_indices``) in ``tracer_provider``.

    Nothing is exported or flushed here: that is the provider's business. ``after_run`` is
    called after each top-level run with its records (nested runs included) and its span
    count. A missing seed is drawn at random and reported in the summary.
    """
    config = resolved_config(config)
    assert config.seed is not None and config.anchor_time_ns is not None
    tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, package_version())
    profiles = [agent_profile(name) for name in config.agents]
    window_ns = ns(config.time_window_s)

    records: list[RunRecord] = []
    spans = 0
    for index in range(config.runs) if run_indices is None else run_indices:
        rng = run_rng(config.seed, index, "plan")
        agent = rng.choice(profiles)
        root = RunPlanner(rng, config.error_rate, profiles).plan(agent)
        age_ns = int(rng.uniform(0, window_ns - root.end))
        base_ns = config.anchor_time_ns - age_ns - root.end
        emitter = Emitter(tracer, index, base_ns)
        with seeded_ids(run_rng(config.seed, index, "ids")):
            emitter.emit(root)
        span_count = root.count()
        records.extend(emitter.records)
        spans += span_count
        if after_run is not None:
            after_run(emitter.records, span_count)
    return SimulationSummary.from_records(records, seed=config.seed, spans=spans)
