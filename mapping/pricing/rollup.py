"""Costs rolled up: a run, an agent, a model, a time bucket.

The rule: a roll-up's ``cost`` is the sum of its priced calls (reported or computed) and
None when none was priced, whether there were no LLM calls or all were unpriced; the
unpriced calls are counted beside it. So a run with 3 priced calls and 1 unknown model shows
the 3 calls' cost *and* "1 unpriced": a lower bound, never a silent 0 for what is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from mapping.pricing.model import CostResult

__all__ = ["CostRollup", "roll_up"]


@dataclass(frozen=True, slots=True)
class CostRollup:
    cost: Decimal | None = None  # USD of the priced calls; None when no call was priced
    priced_calls: int = 0
    unpriced_calls: int = 0

    @property
    def complete(self) -> bool:
        """Whether every LLM call is in ``cost``."""
        return self.unpriced_calls == 0

    def __add__(self, other: CostRollup) -> CostRollup:
        if self.cost is None:
            cost = other.cost
        else:
            cost = self.cost if other.cost is None else self.cost + other.cost
        return CostRollup(
            cost, self.priced_calls + other.priced_calls, self.unpriced_calls + other.unpriced_calls
        )

    def add(self, result: CostResult) -> CostRollup:
        if result.cost is None:
            return CostRollup(self.cost, self.priced_calls, self.unpriced_calls + 1)
        cost = result.cost if self.cost is None else self.cost + result.cost
        return CostRollup(cost, self.priced_calls + 1, self.unpriced_calls)


def roll_up(results: Iterable[CostResult | CostRollup]) -> CostRollup:
    """The roll-up of LLM calls and of other roll-ups (a run's own calls, its sub-runs)."""
    total = CostRollup()
    for item in results:
        total = total + item if isinstance(item, CostRollup) else total.add(item)
    return total
