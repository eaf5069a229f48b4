"""Hostile API input (issue 13 item 10): ids past 64 bits, oversized bodies and notes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citevault.config import Settings
from citevault.web import create_app

ID_ROUTES = [
    ("GET", "/api/sources/{id}"),
    ("GET", "/api/snapshots/{id}"),
    ("GET", "/api/sources/{id}/report"),
    ("GET", "/api/sources/{id}/cite"),
    ("GET", "/api/sources/{id}/wacz"),
    ("POST", "/api/sources/{id}/check"),
    ("GET", "/ui/sources/{id}"),
    ("GET", "/?before={id}"),
]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(home=tmp_path / "home", max_request_body=4096))) as c:
        yield c


@pytest.mark.parametrize(("method", "route"), ID_ROUTES)
@pytest.mark.parametrize("number", [2**63, 2**64 + 5, -(2**63) - 1])
def test_ids_past_64_bits_are_bad_requests_not_server_errors(client: TestClient, method: str, route: str,
                                                            number: int) -> None:
    r = client.request(method, route.format(id=number))
    assert r.status_code in (400, 404), r.text
    if not route.startswith(("/ui/", "/?")):
        assert "error" in r.json()


@pytest.mark.parametrize(("method", "route"), ID_ROUTES[:3])
def test_the_largest_id_is_just_not_found(client: TestClient, method: str, route: str) -> None:
    r = client.request(method, route.format(id=2**63 - 1))
    assert r.status_code == 404 and "error" in r.json()


def test_a_body_over_the_limit_is_413_json(client: TestClient) -> None:
    body = json.dumps({"url": "https://example.com/", "note": "x" * 10_000})
    r = client.post("/api/sources", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "larger than 4096 bytes" in r.json()["error"]


def test_a_chunked_body_over_the_limit_is_cut_short(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        yield b'{"url": "https://example.com/", "note": "'
        for _ in range(1000):
            yield b"x" * 1024
        yield b'"}'

    r = client.post("/api/sources", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "error" in r.json()


def test_a_body_within_the_limit_still_works(client: TestClient) -> None:
    r = client.post("/api/sources", json={"url": "https://example.com/", "note": "a short note"})
    assert r.status_code == 202, r.text


def test_notes_have_a_length_limit(client: TestClient, tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path / "other"))) as roomy:
        r = roomy.post("/api/sources", json={"url": "https://example.com/", "note": "x" * 2001})
        assert r.status_code == 400 and "note" in r.json()["error"]
        assert roomy.get("/api/sources").json()["sources"] == []
        ok = roomy.post("/api/sources", json={"url": "https://example.com/", "note": "x" * 2000})
        assert ok.status_code == 202
