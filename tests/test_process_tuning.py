"""The garbage collector settings of long-lived processes (agentguide.memory)."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import gc, json
from agentguide.memory import YOUNG_COLLECTION_THRESHOLD, tune_garbage_collector
from mapping.pricing.catalogue import load_price_data
before = gc.get_threshold()
load_price_data()
tune_garbage_collector()
print(json.dumps({"before": before, "after": gc.get_threshold(),
                  "frozen": gc.get_freeze_count(), "young": YOUNG_COLLECTION_THRESHOLD}))
"""


def test_tuning_freezes_what_the_process_loaded_and_collects_the_young_less_often() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(probe.stdout)
    assert seen["after"] == [seen["young"], *seen["before"][1:]]
    assert seen["after"][0] > seen["before"][0]
    assert seen["frozen"] > 10_000  # modules, descriptors and the price catalogue


_FREEZER_PROBE = """
import gc, json, weakref
from agentguide.memory import SurvivorFreezer
now = [0.0]
freezer = SurvivorFreezer(full_collection_every_s=60.0, clock=lambda: now[0])
gc.collect()
frozen_at_start = gc.get_freeze_count()

class Node:
    pass

def cycle():
    node = Node()
    node.self = node
    return node

kept = [object() for _ in range(1000)] + [[i] for i in range(1000)]
garbage = cycle()
watch = weakref.ref(garbage)
del garbage  # a cycle: only the collector can free it
freezer.after_batch()
after_batch = gc.get_freeze_count()
gc.collect()
alive_after_collect = watch() is not None
now[0] = 30.0
freezer.after_batch()
alive_before_due = watch() is not None
now[0] = 61.0
freezer.after_batch()
print(json.dumps({
    "start": frozen_at_start, "after_batch": after_batch, "after_full": gc.get_freeze_count(),
    "full": freezer.full_collections, "frozen_cycle_survives_collect": alive_after_collect,
    "alive_before_due": alive_before_due, "alive_after_full": watch() is not None,
}))
"""


def test_survivor_freezer_freezes_each_batch_and_reclaims_cycles_in_a_full_pass() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _FREEZER_PROBE],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    seen = json.loads(probe.stdout)
    assert seen["after_batch"] >= seen["start"] + 1000  # the kept lists are frozen
    assert seen["frozen_cycle_survives_collect"]  # frozen: out of the collector's reach
    assert seen["alive_before_due"]
    assert seen["full"] == 1
    assert not seen["alive_after_full"]  # the full pass freed the cycle
    assert seen["after_full"] >= seen["start"] + 1000
