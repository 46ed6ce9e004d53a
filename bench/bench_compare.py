"""Benchmark of run comparison and failure signatures on long runs.

Run: python bench/bench_compare.py [steps]. Prints seconds and peak traced memory (numpy's
allocations included) per case; asserts nothing.
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mapping.compare import ComparedStep, compare_runs
from mapping.failure_signature import normalise_message

TOOLS = [f"tool_{k}" for k in range(12)]


def agent_run(steps: int, rng: random.Random) -> list[ComparedStep]:
    """An agent loop: an LLM call, then one to three tool calls, repeated."""
    run: list[ComparedStep] = []
    while len(run) < steps:
        run.append(ComparedStep("llm", "gpt-4o", input="prompt", output="call", tokens=500))
        for _ in range(rng.randint(1, 3)):
            run.append(ComparedStep("tool", rng.choice(TOOLS), input="{}", duration_ms=12.0))
    return run[:steps]


def edited(run: list[ComparedStep], edits: int, rng: random.Random) -> list[ComparedStep]:
    """``run`` with ``edits`` steps dropped, added or renamed at random places."""
    result = list(run)
    for _ in range(edits):
        at = rng.randrange(len(result))
        choice = rng.random()
        if choice < 1 / 3:
            del result[at]
        elif choice < 2 / 3:
            result.insert(at, ComparedStep("tool", rng.choice(TOOLS)))
        else:
            result[at] = ComparedStep(result[at].kind, "renamed")
    return result


def measure(label: str, a: list[ComparedStep], b: list[ComparedStep]) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    comparison = compare_runs(a, b)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"{label:<44} {len(a):>6} x {len(b):<6} {elapsed:7.2f} s  peak {peak / 2**20:7.1f} MiB"
        f"  distance {comparison.distance}"
    )


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rng = random.Random(7)
    a = agent_run(steps, rng)
    measure("identical", a, list(a))
    measure("20 edits spread over the run", a, edited(a, 20, rng))
    measure("1% edits", a, edited(a, steps // 100, rng))
    measure("two independent runs of the same agent", a, agent_run(steps, rng))
    only_llm, only_tools = [ComparedStep("llm", "m")] * steps, [ComparedStep("tool", "x")] * steps
    measure("unrelated kinds (all LLM vs all tool)", only_llm, only_tools)
    unique = [ComparedStep("tool", f"t{k}") for k in range(steps)]
    measure(
        "every step name different", unique, [ComparedStep("tool", f"u{k}") for k in range(steps)]
    )

    traceback = "".join(
        f'  File "/app/pkg/mod{k}.py", line {k * 7}, in f{k}\n    call({k}, "arg-{k}")\n'
        for k in range(400)
    )
    started = time.perf_counter()
    for _ in range(100):
        normalise_message(traceback)
    per_call = (time.perf_counter() - started) / 100
    print(f"normalise a {len(traceback)}-char traceback: {per_call * 1000:.1f} ms")


if __name__ == "__main__":
    main()
