"""The JSON API in-process: queueing captures (validation, schedules, skip-if-recent), the views,
a capture run by a worker seen through the API, Prometheus metrics, the Redis queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from citevault.archive import Archive
from citevault.config import Settings
from citevault.service import WorkerPool
from citevault.web import create_app
from citevault.workqueue import WorkQueue
from tests.fakeweb import FakeWeb


def _client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as client:
        yield client
    app.state.archive.close()


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    yield from _client(Settings(home=home, allow_private_networks=True))


def _metrics(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    res = client.get("/metrics")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")
    out = {}
    for fam in text_string_to_metric_families(res.text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.parametrize(("body", "message"), [
    ({"url": "ftp://example.com/x"}, "unsupported URL scheme"),
    ({"url": "not a url"}, "not a URL"),
    ({"url": "https://example.com/", "depth": 3}, "depth must be 0 or 1"),
    ({"url": "https://example.com/", "scope": "everything"}, "scope must be"),
    ({"url": "https://example.com/", "every": "often"}, "bad duration"),
    ({"url": "https://example.com/", "cron": "0 3 * *"}, "cron"),
    ({"url": "https://example.com/", "every": "1h", "cron": "0 3 * * *"}, "not both"),
    ({"url": "https://example.com/", "if_not_archived_within": "recently"}, "bad duration"),
])
def test_bad_input_is_a_400_and_changes_nothing(client: TestClient, body: dict[str, object],
                                                message: str) -> None:
    res = client.post("/api/sources", json=body)
    assert res.status_code == 400
    assert set(res.json()) == {"error"} and message in res.json()["error"]
    assert client.get("/api/sources").json() == {"sources": []}
    assert client.get("/api/schedules").json() == {"schedules": []}


def test_malformed_documents_are_refused(client: TestClient) -> None:
    extra = {"url": "https://example.com/", "colour": "red"}
    cases = [(extra, "colour"), ({}, "url"), ({"url": 5}, "url"), ([1], "request"),
             ({"url": "https://example.com/", "depth": "x"}, "depth")]
    for body, field in cases:
        res = client.post("/api/sources", json=body)
        assert res.status_code == 400, body
        assert set(res.json()) == {"error"} and field in res.json()["error"], res.json()
    res = client.post("/api/sources", content=b"not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 400 and "JSON" in res.json()["error"]
    assert client.get("/api/sources/abc").status_code == 400
    assert client.get("/api/no-such-route").json() == {"error": "Not Found"}
    assert client.get("/api/sources").json() == {"sources": []}


def test_post_queues_and_returns_ids(client: TestClient) -> None:
    res = client.post("/api/sources", json={"url": "HTTPS://Example.com", "depth": 0, "note": "cited in §3"})
    assert res.status_code == 202
    doc = res.json()
    assert doc == {"source_id": 1, "snapshot_id": 1, "url": "https://example.com/", "state": "queued",
                   "schedule": None, "jobs": []}
    assert res.headers["location"] == "/api/snapshots/1"
    snap = client.get("/api/snapshots/1").json()
    assert (snap["state"], snap["trigger"], snap["source_id"], snap["captures"]) == ("queued", "api", 1, [])
    [src] = client.get("/api/sources").json()["sources"]
    assert (src["id"], src["url"], src["note"], src["last_state"]) == (
        1, "https://example.com/", "cited in §3", "queued")
    detail = client.get("/api/sources/1").json()
    assert [s["id"] for s in detail["snapshots"]] == [1] and detail["depth"] == 0
    for path in ("/api/sources/9", "/api/snapshots/9"):
        res = client.get(path)
        assert res.status_code == 404 and "no " in res.json()["error"]
    res = client.get("/api/captures")
    assert res.status_code == 400 and "url" in res.json()["error"]
    assert client.get("/api/captures", params={"url": "https://example.com/"}).json() == {
        "url": "https://example.com/", "captures": []}
    metrics = _metrics(client)
    assert metrics[("citevault_queue_depth", ())] == 1
    assert metrics[("citevault_snapshots", (("state", "queued"),))] == 1


def test_post_with_a_schedule(client: TestClient) -> None:
    doc = client.post("/api/sources", json={"url": "https://example.com/a", "every": "6h"}).json()
    assert (doc["schedule"], doc["jobs"]) == ("every 6h", [f"recapture-{doc['source_id']}"])
    doc2 = client.post("/api/sources", json={"url": "https://example.com/b", "cron": "0 3 * * 1"}).json()
    assert doc2["schedule"] == "cron 0 3 * * 1"
    jobs = client.get("/api/schedules").json()["schedules"]
    assert [(j["id"], j["schedule"], j["url"]) for j in jobs] == [
        (f"recapture-{doc['source_id']}", "every 6h", "https://example.com/a"),
        (f"recapture-{doc2['source_id']}", "cron 0 3 * * 1", "https://example.com/b"),
    ]
    assert client.get(f"/api/sources/{doc['source_id']}").json()["schedule"] == "every 6h"


def test_default_policy_schedules_every_new_source(home: Path) -> None:
    for client in _client(Settings(home=home, default_schedule=True, policy_recapture="3d")):
        doc = client.post("/api/sources", json={"url": "https://example.com/a"}).json()
        sid = doc["source_id"]
        assert doc["jobs"] == [f"recapture-{sid}", f"check-{sid}"] and doc["schedule"] == "every 3d"
        jobs = {j["id"]: j["schedule"] for j in client.get("/api/schedules").json()["schedules"]}
        assert jobs == {f"recapture-{sid}": "every 3d", f"check-{sid}": "every 1d"}


def test_capture_through_the_api_and_a_worker(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeWeb() as fw:
        for k, v in fw.proxy_env().items():
            monkeypatch.setenv(k, v)
        url = "http://news.test/story"
        fw.add(url, "<html><head><title>s</title></head><body><p>" + "news " * 400 + "</p></body></html>")
        doc = client.post("/api/sources", json={"url": url, "depth": 0}).json()
        app = client.app
        archive: Archive = app.state.archive  # type: ignore[attr-defined]
        queue = WorkQueue(archive.index)
        job = queue.take(timeout=2)
        assert job is not None and job.snapshot_id == doc["snapshot_id"]
        assert client.get(f"/api/snapshots/{job.snapshot_id}").json()["state"] == "running"
        pool = WorkerPool(archive, queue, workers=1, grace=1, metrics=app.state.metrics)  # type: ignore[attr-defined]
        assert pool.run(job) == "done"
        snap = client.get(f"/api/snapshots/{job.snapshot_id}").json()
        assert snap["state"] == "done" and snap["urls_done"] >= 1 and snap["bytes_written"] > 0
        seed = next(c for c in snap["captures"] if c["role"] == "seed")
        assert (seed["url"], seed["status"], seed["record_type"]) == (url, 200, "response")
        caps = client.get("/api/captures", params={"url": url}).json()["captures"]
        assert [(c["url"], c["status"], c["role"]) for c in caps] == [(url, 200, "seed")]
        # Already archived: skipped, nothing new queued.
        res = client.post("/api/sources", json={"url": url, "if_not_archived_within": "1h"})
        assert res.status_code == 200
        skipped = res.json()
        assert skipped["skipped"] is True and skipped["capture"]["timestamp"] == seed["timestamp"]
        assert len(client.get("/api/sources").json()["sources"]) == 1
        metrics = _metrics(client)
        assert metrics[("citevault_capture_jobs_total", (("outcome", "done"),))] == 1
        assert metrics[("citevault_capture_duration_seconds_count", ())] == 1
        assert metrics[("citevault_records_total", (("record_type", "response"),))] >= 1
        assert metrics[("citevault_record_bytes_total", ())] >= snap["bytes_written"] > 0
        assert metrics[("citevault_capture_job_bytes_total", ())] == snap["bytes_written"]
        assert metrics[("citevault_fetch_failures_total", ())] == 0
        assert metrics[("citevault_queue_depth", ())] == 0


def test_post_pushes_to_redis_when_configured(home: Path, redis_url: str) -> None:
    prefix = f"cvtest-{uuid.uuid4().hex[:10]}"
    r = redis.Redis.from_url(redis_url)
    try:
        for client in _client(Settings(home=home, redis_url=redis_url, redis_prefix=prefix)):
            doc = client.post("/api/sources", json={"url": "https://example.com/"}).json()
            assert r.lrange(f"{prefix}:captures", 0, -1) == [str(doc["snapshot_id"]).encode()]
    finally:
        r.delete(f"{prefix}:captures")
        r.close()
