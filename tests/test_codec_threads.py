"""Ingest compresses spans in worker threads: concurrent calls must neither fail nor crash the
process (a zstd context shared between threads does both). Run in a child process, so that a
crash fails this test instead of the test run."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO_ROOT

_STRESS = """
import os, threading
from storage.codec import compress_spans, decompress_span
spans = [os.urandom(200) + bytes(500) for _ in range(200)]
errors = []
def work():
    try:
        for _ in range(100):
            if [decompress_span(s) for s in compress_spans(spans)] != spans:
                errors.append("round trip differs")
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(errors), errors[:1])
"""


def test_spans_compress_in_many_threads_at_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _STRESS], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 []"
