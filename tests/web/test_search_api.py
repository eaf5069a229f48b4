"""`GET /api/search`: ranked results with snippets, highlights and replay URLs; filters; 400 with a
JSON error for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citevault.archive import Archive
from citevault.config import Settings
from citevault.web import create_app
from tests.fakeweb import NewsSite

BASE = "https://archive.example.org"


def test_api_search(news: NewsSite, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(home=home, public_url=BASE, retries=0, timeout=5)
    with Archive(settings) as archive:
        archive.capture(archive.queue([news.article]))
    with TestClient(create_app(settings)) as client:
        r = client.get("/api/search", params={"q": '"bipartisan vote brings us closer"'})
        assert r.status_code == 200, r.text
        top = r.json()["results"][0]
        assert top["url"] == news.gov_page
        assert top["replay_url"] == f"{BASE}/web/{top['timestamp']}/{news.gov_page}"
        marked = " ".join(top["snippet"][a:b] for a, b in top["highlights"]).lower()
        assert marked == "bipartisan vote brings us closer"
        r = client.get("/api/search", params={"q": "water", "url": "dailyledger.test", "role": "seed"})
        assert [h["url"] for h in r.json()["results"]] == [news.article]
        page1 = client.get("/api/search", params={"q": "water", "limit": 2}).json()["results"]
        page2 = client.get("/api/search", params={"q": "water", "limit": 2, "offset": 2}).json()["results"]
        assert len(page1) == 2 and not {h["url"] for h in page1} & {h["url"] for h in page2}
        assert client.get("/api/search", params={"q": "water", "from": "2999"}).json()["results"] == []
        for params in ({"q": " "}, {"q": "water", "to": "soon"}, {"q": "water", "limit": 0}):
            bad = client.get("/api/search", params=params)
            assert bad.status_code == 400 and "error" in bad.json(), params
        assert client.get("/api/search").status_code in (400, 422)


def test_ui_search_box_finds_text(news: NewsSite, home: Path) -> None:
    settings = Settings(home=home, public_url=BASE, retries=0, timeout=5)
    with Archive(settings) as archive:
        archive.capture(archive.queue([news.article]))
    import lxml.html

    with TestClient(create_app(settings)) as client:
        r = client.get("/ui/search", params={"url": "bipartisan vote"})
        assert r.status_code == 200
        doc = lxml.html.fromstring(r.text)
        first = doc.xpath('//ol[@class="results"]/li')[0]
        link = first.xpath("./a")[0]
        assert link.get("href").startswith(f"{BASE}/web/") and link.get("href").endswith(news.gov_page)
        assert [m.text_content().lower() for m in first.xpath(".//mark")] == ["bipartisan", "vote"]
        miss = client.get("/ui/search", params={"url": "zzzunheardofword <script>alert(1)</script>"})
        assert miss.status_code == 200 and "<script>" not in miss.text
        assert "&lt;script&gt;" in miss.text
