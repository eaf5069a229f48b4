"""The Daily Ledger news site: HTML and assets under sites/news/, registered from its site.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .routes import FakeRequest
from .web import FakeWeb

__all__ = ["NewsSite", "build_news_site"]

SITE_DIR = Path(__file__).parent / "sites" / "news"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".woff2": "font/woff2",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".svg": "image/svg+xml",
}
TWEET_OEMBED = "https://publish.twitter.com/oembed"


@dataclass
class NewsSite:
    """Absolute URLs of the fake news site registered by build_news_site."""

    article: str
    title: str
    home: str
    cited: list[str]  # hrefs in the article body, in order (incl. 404, shortener, YouTube)
    requisites: list[str]  # what the article needs to render (CSS, fonts, images, JS, favicon, widgets.js)
    navigation: list[str]  # nav sections, sidebar trending articles, footer links
    ads: list[str]  # ad iframe src URLs
    tweet_links: list[str]  # hrefs in the embedded tweets (with ?ref_src=...)
    tweet_status: list[str]  # the same without the query
    oembed: list[str]  # exact oEmbed URLs (tweets then YouTube)
    youtube: str
    not_found: str
    shortener: str
    redirect_chain: list[str]  # shortener -> bit.example.test -> final 200 page
    gzip_page: str
    slow_page: str
    gov_page: str
    cited_requisites: dict[str, list[str]]  # per cited page, its own requisites
    all_urls: list[str]  # every URL registered (not the any-query oEmbed catch-alls)


def build_news_site(fw: FakeWeb) -> NewsSite:
    """Register the Daily Ledger article, everything it cites, embeds and links to; return its URLs."""
    manifest = tomllib.loads((SITE_DIR / "site.toml").read_text())
    registered: list[str] = []
    for spec in manifest["route"]:
        opts: dict[str, Any] = dict(spec)
        url, name, listed = opts.pop("url"), opts.pop("file", None), opts.pop("listed", True)
        fill = opts.pop("fill", None)
        body = (SITE_DIR / name).read_bytes() if name else b""
        if fill:
            body = Template(body.decode()).substitute(fill).encode()
        content_type = CONTENT_TYPES[Path(name).suffix] if name else CONTENT_TYPES[".html"]
        fw.add(url, body, content_type=content_type, **opts)
        if listed:
            registered.append(url)

    def tweet_oembed(req: FakeRequest) -> bytes | None:
        # Any query naming a tweet (with or without its ?ref_src) gets that tweet's oEmbed document.
        target = dict(parse_qsl(urlsplit(req.url).query)).get("url", "").split("?")[0]
        route = fw.lookup(f"{TWEET_OEMBED}?{urlencode({'url': target})}") if target else None
        return route.body if route is not None and isinstance(route.body, bytes) else None

    fw.add(TWEET_OEMBED, tweet_oembed, content_type=CONTENT_TYPES[".json"], match_any_query=True)
    return NewsSite(**manifest["site"], all_urls=registered)
