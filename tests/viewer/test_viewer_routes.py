"""The viewer's page and files are served beside the API, which keeps its paths."""

from __future__ import annotations

import httpx

from tests.viewer.conftest import ViewerSite


def test_the_viewer_is_served_at_the_root(viewer_site: ViewerSite) -> None:
    index = httpx.get(viewer_site.url + "/", timeout=10)
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert '<script type="module" src="/static/js/main.js">' in index.text
    script = httpx.get(viewer_site.url + "/static/js/main.js", timeout=10)
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert httpx.get(viewer_site.url + "/static/nothing.js", timeout=10).status_code == 404
    # The API and the documentation keep their paths.
    assert httpx.get(viewer_site.url + "/v1/agents", timeout=10).json()["items"]
    assert httpx.get(viewer_site.url + "/openapi.json", timeout=10).status_code == 200
    assert httpx.get(viewer_site.url + "/docs", timeout=10).status_code == 200
    assert httpx.get(viewer_site.url + "/healthz", timeout=10).json() == {"status": "ok"}
