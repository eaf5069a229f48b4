"""End to end: capture the fake news article through the real capture, replay it through /web/,
and check that every page requisite in the rewritten HTML (and in its CSS) points into /web/ and
is served from the archive."""

from __future__ import annotations

import re

import lxml.html
import pytest
from fastapi.testclient import TestClient

from citevault.archive import Archive
from citevault.config import Settings
from citevault.web import create_app
from tests.fakeweb import FakeWeb, build_news_site

_WEB = re.compile(r"^/web/(\d{14})([a-z]{2}_)?/(https?://.+)$")
_CSS_REF = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)|@import\s+["']([^"']+)["']""")


def _requisite_refs(doc: lxml.html.HtmlElement) -> list[str]:
    """Every reference a browser loads to render the page (not <a> links, not the banner, not
    the frame guard: our own script, not the archive's)."""
    refs: list[str] = []
    for el in doc.iter("link"):
        rels = (el.get("rel") or "").lower().split()
        if {"stylesheet", "icon", "preload"} & set(rels):
            refs.append(el.get("href"))
    for el in doc.iter("img", "script", "source", "video", "audio", "input", "embed"):
        if el.get("data-citevault-guard") is not None:
            continue
        refs += [el.get(a) for a in ("src", "poster", "data-src") if el.get(a)]
        for a in ("srcset", "data-srcset"):
            if el.get(a):
                refs += [c.strip().split()[0] for c in el.get(a).split(",") if c.strip()]
    for el in doc.iter("style"):
        refs += [a or b for a, b in _CSS_REF.findall(el.text or "")]
    for el in doc.xpath("//*[@style]"):
        if el.get("id") != "citevault-banner":
            refs += [a or b for a, b in _CSS_REF.findall(el.get("style"))]
    return [r for r in refs if r and not r.startswith("data:")]


@pytest.mark.slow
def test_captured_article_replays_from_the_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeWeb() as fw:
        news = build_news_site(fw)
        for k, v in fw.proxy_env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")
        settings = Settings()
        archive = Archive(settings)
        queued = archive.queue([news.article])
        assert archive.capture(queued) == 0
        fetched_from_web = len(fw.requests)

    # The fake web is gone: everything below comes from the archive.
    with TestClient(create_app(settings, archive)) as client:
        seen: dict[str, int] = {}

        def check(ref: str, page: str) -> bytes:
            m = _WEB.match(ref)
            assert m, f"{ref!r} in {page} does not point into /web/"
            r = client.get(ref)
            assert r.status_code == 200, f"{ref} (from {page}) -> {r.status_code}"
            assert "memento-datetime" in r.headers
            seen[m.group(3)] = r.status_code
            if r.headers.get("content-type", "").startswith("text/css"):
                for a, b in _CSS_REF.findall(r.text):
                    if not (a or b).startswith("data:"):
                        check(a or b, ref)
            return r.content

        for page, requisites in [(news.article, news.requisites),
                                 (news.gov_page, news.cited_requisites[news.gov_page])]:
            r = client.get(f"/web/{page}")  # no timestamp: the newest capture, via a redirect
            assert r.status_code == 200 and r.history and r.history[0].status_code == 302
            doc = lxml.html.document_fromstring(r.content)
            assert doc.get_element_by_id("citevault-banner") is not None
            refs = _requisite_refs(doc)
            for ref in refs:
                check(ref, page)
            missing = set(requisites) - set(seen)
            assert not missing, f"requisites of {page} not replayed: {missing}"
            # Links to other pages point into the archive too (the banner alone links out).
            for a in doc.iter("a"):
                if a.getparent() is not None and a.getparent().get("id") == "citevault-banner":
                    continue
                href = a.get("href") or ""
                assert href.startswith(("/web/", "#", "mailto:")), href
            for el in doc.iter():
                in_banner = any(e.get("id") == "citevault-banner" for e in el.iterancestors()) or (
                    el.get("id") == "citevault-banner")
                for attr in ("src", "href", "srcset", "poster", "data-src", "action", "background"):
                    value = el.get(attr) or ""
                    if not in_banner:
                        assert not re.match(r"\s*https?:", value), (el.tag, attr, value)

        # The article's text and an image's bytes are the archived ones.
        article = client.get(f"/web/{news.article}").text
        assert news.title in article
        hero = next(u for u in news.requisites if u.endswith("/hero.jpg"))
        assert client.get(f"/web/id_/{hero}").content[:2] == b"\xff\xd8"
    assert fetched_from_web > 0
    archive.close()
