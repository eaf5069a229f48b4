"""Writes from other origins are refused (CSRF), above all from replayed archived pages, whose
sandbox gives them the origin "null" on this very host; API clients and our own pages write."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citevault.config import Settings
from citevault.web import create_app

CHECK = "/api/sources/999/check"  # no such source: past the origin check, the answer is 404


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(Settings(home=tmp_path / "home", public_url="https://cv.example.org")))


@pytest.mark.parametrize("headers", [
    {"Origin": "null"},  # a sandboxed replay: fetch() or a form in an archived page
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},
])
def test_cross_site_writes_are_refused(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post(CHECK, headers=headers)
    assert r.status_code == 403 and "refused" in r.json()["error"]


@pytest.mark.parametrize("headers", [
    {},  # an API client (curl, the CLI, scripts) sends neither header
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
    {"Origin": "http://testserver"},
    {"Origin": "https://cv.example.org"},  # the public URL, behind a proxy
])
def test_own_pages_and_api_clients_write(client: TestClient, headers: dict[str, str]) -> None:
    assert client.post(CHECK, headers=headers).status_code == 404


def test_reads_are_not_affected(client: TestClient) -> None:
    headers = {"Origin": "null", "Sec-Fetch-Site": "cross-site"}
    assert client.get("/api/sources", headers=headers).status_code == 200
