"""Headless Chromium for the viewer's tests: Debian's chromium driven by Playwright.

Playwright's own browser downloads are never used: the tests need /usr/bin/chromium (the
``chromium`` Debian package) and skip, saying so, when it or Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tests.support import REPO_ROOT

CHROMIUM = Path(os.environ.get("AGENTGUIDE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def save_screenshot(page: Any, name: str) -> Path:
    """A PNG of the page in test-artifacts/screenshots; with AGENTGUIDE_UPDATE_SCREENSHOTS=1 it
    also replaces the README's copy in docs/screenshots."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("AGENTGUIDE_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
    return path
