"""The trace viewer: a static single-page app at ``/``, its assets under ``/static``.

The page is plain HTML, CSS and JavaScript modules shipped in ``api/static``: nothing is built
at install time and nothing is fetched from elsewhere, so it works offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Span content is shown as text only; the policy keeps it that way should a bug slip in.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class _RevalidatedFiles(StaticFiles):
    """Static files that browsers check (cheaply, by ETag) before reuse, so an upgrade shows."""

    def file_response(
        self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def index_response() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def install_viewer(app: FastAPI) -> None:
    """Serve the viewer at ``/`` and its files at ``/static/...``."""

    @app.get("/", include_in_schema=False)
    async def viewer_index() -> FileResponse:
        return index_response()

    app.mount("/static", _RevalidatedFiles(directory=STATIC_DIR), name="static")
