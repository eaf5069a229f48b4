"""The app's one error handler (an HTML page for browser routes, JSON for the API and archive
tools) and the offline API documentation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_errors_are_pages_for_browsers_and_json_for_the_api(client: TestClient) -> None:
    page = client.get("/ui/sources/abc")
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in page.text and "source_id" in page.text and "default-src 'none'" in \
        page.headers["content-security-policy"]
    missing = client.get("/nowhere", headers={"Accept": "text/html,application/xhtml+xml"})
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
    for path in ("/api/sources/42", "/nowhere", "/cdx?url=&matchType=nonsense"):
        res = client.get(path)
        assert res.headers["content-type"] == "application/json", path
        assert set(res.json()) == {"error"} and res.status_code in (400, 404), path
    api = client.get("/api/sources/42", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json() == {"error": "no source with id 42"}


def test_docs_work_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text and "/docs/assets/swagger-ui.css" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.split("<body>")[0]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/docs/assets/{asset}").status_code == 200
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").json()["info"]["title"] == "citevault"


def test_an_unexpected_error_is_a_page_too(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("citevault.web.ui.source_summary", broken)
    monkeypatch.setattr("citevault.web.api.source_summary", broken)
    client.app.state.archive.queue(["https://example.com/"])  # type: ignore[attr-defined]
    quiet = TestClient(client.app, raise_server_exceptions=False)
    page = quiet.get("/")
    assert page.status_code == 500 and "<h1>Something went wrong</h1>" in page.text
    assert "boom" not in page.text
    api = quiet.get("/api/sources")
    assert api.status_code == 500
    assert api.json() == {"error": "internal error: the service log has the details"}
