"""``agentguide compact``: one compaction pass of the sealed day partitions, now."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from storage.compaction import CompactedPartition, compact_database
from storage.errors import StorageUnavailable


def _print_partition(done: CompactedPartition) -> None:
    print(
        f"{done.name:<24} {done.bytes_before:>15,} -> {done.bytes_after:>15,} bytes"
        f" (indexes {done.index_bytes_before:,} -> {done.index_bytes_after:,})"
        f" in {done.seconds:.1f} s",
        flush=True,
    )


def compact(args: argparse.Namespace, database_url: str) -> int:
    started = time.perf_counter()
    try:
        done = asyncio.run(
            compact_database(
                database_url,
                compact_after_ns=round(args.compact_after * 10**9),
                on_partition=_print_partition,
            )
        )
    except StorageUnavailable as exc:
        print(f"agentguide compact: the database is unavailable: {exc}", file=sys.stderr)
        return 1
    if done.locked_out:
        print("agentguide compact: another process is compacting now; nothing done",
              file=sys.stderr)  # fmt: skip
        return 1
    for name in done.leftovers_dropped:
        print(f"dropped {name}, an invalid index left by an unfinished REINDEX CONCURRENTLY")
    for name in done.vanished:
        print(f"{name:<24} dropped meanwhile (retention): skipped")
    for name in done.failed:
        print(f"{name:<24} failed (see the log above); the next pass tries again")
    elapsed = time.perf_counter() - started
    if not done.compacted:
        print(f"nothing to compact ({elapsed:.1f} s)")
    else:
        print(
            f"{len(done.compacted)} partition(s) compacted: {done.bytes_before:,} -> "
            f"{done.bytes_after:,} bytes ({done.bytes_after - done.bytes_before:+,}) "
            f"in {elapsed:.1f} s"
        )
    return 1 if done.failed else 0
