"""Viewer benchmark: one run of 30,000 steps, from the API and in headless Chromium.

Ingests the run over OTLP/HTTP into a fresh database, then measures

- the API: GET /v1/runs/{id} (every step in full, for comparison), GET /v1/runs/{id}/timeline
  (what the viewer loads) and GET /v1/runs/{id}/steps?limit=100 (the first page of steps);
- the browser: first contentful paint, the timeline loaded, and the first waterfall rows in
  the DOM, each from the start of navigation (the viewer marks the last two with the User
  Timing API); then the longest frame while scrolling through the whole waterfall.

Targets (issue 6): the API under 1 s, and the first rows under 1 s. Figures only, no verdict.

    python bench/bench_viewer.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python bench/bench_viewer.py --steps 5000 --repeat 3

Without --database-url (or AGENTGUIDE_TEST_DATABASE_URL) an embedded PostgreSQL is used.
Needs /usr/bin/chromium and Playwright for the browser figures; prints the API ones without.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.otlp_helpers import post_protobuf  # noqa: E402
from tests.support import PostgresServer, start_server, wait_derived  # noqa: E402
from tests.viewer.big_run import big_run  # noqa: E402
from tests.viewer.browser import launch, missing_browser  # noqa: E402

SCROLL_FRAMES = 120

# Scrolls the waterfall from top to bottom in SCROLL_FRAMES jumps, one per animation frame,
# and answers the longest and the average frame (ms).
SCROLL_SCRIPT = """async (frames) => {
  const view = document.querySelector('.wf-viewport');
  const step = (view.scrollHeight - view.clientHeight) / frames;
  const times = [];
  let last = performance.now();
  for (let i = 1; i <= frames; i += 1) {
    view.scrollTop = step * i;
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const now = performance.now();
    times.push(now - last);
    last = now;
  }
  return [Math.max(...times), times.reduce((a, b) => a + b, 0) / times.length];
}"""

MARKS_SCRIPT = """() => {
  const mark = (name) => {
    const entry = performance.getEntriesByName(name)[0];
    return entry ? entry.startTime : null;
  };
  return {
    first_paint: mark('first-contentful-paint'),
    timeline_loaded: mark('agentguide:timeline-loaded'),
    first_rows: mark('agentguide:waterfall-rows'),
  };
}"""


def timed(action: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Seconds of each of ``repeat`` calls, and the last result."""
    seconds = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def describe(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"median {statistics.median(ms):7.1f} ms   max {ms[-1]:7.1f} ms"


def bench_api(base_url: str, run_id: str, repeat: int) -> None:
    print(f"API ({repeat} requests each)")
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for label, path in [
            ("GET /v1/runs/{id}  (every step in full)", f"/v1/runs/{run_id}"),
            ("GET /v1/runs/{id}/timeline", f"/v1/runs/{run_id}/timeline"),
            ("GET /v1/runs/{id}/steps?limit=100", f"/v1/runs/{run_id}/steps?limit=100"),
        ]:
            seconds, response = timed(functools.partial(client.get, path), repeat)
            assert response.status_code == 200, response.text
            size = len(response.content) / 1e6
            print(f"  {label:42} {describe(seconds)}   {size:6.2f} MB")


def bench_browser(base_url: str, run_id: str, repeat: int) -> None:
    reason = missing_browser()
    if reason:
        print(f"browser: skipped ({reason})")
        return
    from playwright.sync_api import sync_playwright

    figures: dict[str, list[float]] = {"first_paint": [], "timeline_loaded": [], "first_rows": []}
    longest_frames: list[float] = []
    average_frames: list[float] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for _ in range(repeat):
                # A new context each time: nothing cached from the previous load.
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(f"{base_url}/#/runs/{run_id}")
                page.locator(".wf-row:not([hidden])").nth(10).wait_for(timeout=60_000)
                for name, value in page.evaluate(MARKS_SCRIPT).items():
                    if value is not None:
                        figures[name].append(value / 1000)
                longest, average = page.evaluate(SCROLL_SCRIPT, SCROLL_FRAMES)
                longest_frames.append(longest / 1000)
                average_frames.append(average / 1000)
                context.close()
        finally:
            browser.close()
    print(f"browser, from the start of navigation ({repeat} fresh page loads)")
    labels = {
        "first_paint": "first contentful paint",
        "timeline_loaded": "timeline loaded and parsed",
        "first_rows": "first waterfall rows in the DOM",
    }
    for name, label in labels.items():
        print(f"  {label:42} {describe(figures[name])}")
    print(f"scrolling the whole waterfall in {SCROLL_FRAMES} jumps, one per frame")
    print(f"  {'longest frame':42} {describe(longest_frames)}")
    print(f"  {'average frame':42} {describe(average_frames)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL to create the bench database in")
    parser.add_argument("--steps", type=int, default=30_000, help="steps of the run")
    parser.add_argument("--repeat", type=int, default=5, help="measurements of each figure")
    args = parser.parse_args()
    if args.database_url:
        os.environ["AGENTGUIDE_TEST_DATABASE_URL"] = args.database_url

    postgres = PostgresServer()
    try:
        database_url = postgres.create_database()
        server = start_server(database_url)
        try:
            run = big_run(args.steps)
            started = time.perf_counter()
            for request in run.requests:
                response = post_protobuf(server.http_url, request)
                assert response.status_code == 200, response.text
            sent = time.perf_counter() - started
            wait_derived(database_url, timeout=600)
            derived = time.perf_counter() - started
            print(
                f"one run of {args.steps:,} steps: sent in {sent:.1f} s, "
                f"derived {derived:.1f} s after the first request"
            )
            bench_api(server.http_url, run.run_id, args.repeat)
            bench_browser(server.http_url, run.run_id, args.repeat)
        finally:
            server.stop()
    finally:
        postgres.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
