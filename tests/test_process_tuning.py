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
