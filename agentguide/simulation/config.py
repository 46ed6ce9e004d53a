"""What to simulate and where to send it: :class:`SimulationConfig`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "COMPRESSIONS",
    "MAX_RUN_DURATION_NS",
    "MIN_RUN_DURATION_NS",
    "PROTOCOLS",
    "Compression",
    "Protocol",
    "SimulationConfig",
]

Protocol = Literal["grpc", "http/protobuf", "http/json"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
Compression = Literal["none", "gzip"]
COMPRESSIONS: tuple[str, ...] = get_args(Compression)

# Every top-level run lasts this long, at least and at most.
MIN_RUN_DURATION_NS = 500_000_000
MAX_RUN_DURATION_NS = 20_000_000_000


@dataclass(frozen=True)
class SimulationConfig:
    """What to generate and where to send it. Export fields are ignored by generate_into."""

    runs: int = 50
    error_rate: float = 0.1
    agents: tuple[str, ...] = ("weather-agent", "research-agent", "billing-agent")
    seed: int | None = None
    # Runs end at most time_window_s before this instant (default: when generation starts).
    anchor_time_ns: int | None = None
    time_window_s: float = 3600.0
    endpoint: str | None = None
    protocol: Protocol = "http/protobuf"
    concurrency: int = 4
    headers: Mapping[str, str] = field(default_factory=dict)
    compression: Compression = "none"
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.runs < 0:
            raise ValueError(f"runs must be 0 or more, got {self.runs}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate}")
        if not self.agents or any(not name.strip() for name in self.agents):
            raise ValueError("agents must name at least one agent, and no empty names")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, got {self.concurrency}")
        if self.compression not in COMPRESSIONS:
            raise ValueError("compression must be 'none' or 'gzip'")
        if self.time_window_s <= MAX_RUN_DURATION_NS / 1e9:
            raise ValueError("time_window_s must be longer than the longest run (20 s)")
