"""The synthetic site the benchmarks' fake web serves: its URL layout (`SiteSpec`: a hub, pages
over many hosts, their requisites, news articles citing them) and the bytes of every response
(`Site`: pages sliced from a seeded corpus, so every run serves the same content).

webfarm.py serves it over HTTP; floor.py, capture.py and scaleout.py read the layout to know which
URLs a capture must fetch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Site", "SiteSpec"]

_WORDS = (
    "archive citation source report court ruling minister statement press release data study "
    "survey percent according said official analysis evidence record public council vote budget "
    "policy law article page link reference the of and to in a is that for on with as was by it "
    "from at be this have or are an which were their has been more also not but one new after"
).split()


@dataclass(frozen=True)
class SiteSpec:
    """What the fake web serves: a hub page linking `pages` pages spread over `hosts` hosts; each
    page has a unique image plus its host's shared stylesheet, script, logo and CSS background."""

    pages: int = 500
    hosts: int = 20
    delay: float = 0.1  # seconds before every response
    page_bytes: int = 24_000  # HTML of one page (text, compresses like real prose)
    image_bytes: int = 32_000  # unique image of one page (incompressible, like JPEG)
    requisites: bool = True
    articles: int = 0  # http://news.<domain>/a/K.html, each citing pages 10K .. 10K+9 (scale-out)
    big_page_bytes: int = 100_000  # http://hub.<domain>/big.html, for replay
    domain: str = "bench.test"
    seed: int = 1

    @property
    def hub_url(self) -> str:
        return f"http://hub.{self.domain}/"

    @property
    def big_url(self) -> str:
        return f"http://hub.{self.domain}/big.html"

    def host(self, i: int) -> str:
        return f"h{i % self.hosts + 1:02d}.{self.domain}"

    def page_url(self, i: int) -> str:
        return f"http://{self.host(i)}/p/{i:06d}.html"

    def article_url(self, k: int) -> str:
        return f"http://news.{self.domain}/a/{k:04d}.html"

    def article_urls(self, k: int) -> list[str]:
        """Every URL a capture of article `k` (depth 1, cited links) fetches, once."""
        news = f"http://news.{self.domain}"
        out = [self.article_url(k), f"{news}/static/site.css", f"{news}/static/logo.png",
               f"{news}/static/bg.png"]
        for i in range(10 * k, 10 * k + 10):
            out += [self.page_url(i), *self.page_requisites(i)]
            if self.requisites:
                out.append(f"http://{self.host(i)}/static/bg.png")
        return list(dict.fromkeys(out))

    def hub_requisites(self) -> list[str]:
        return [f"http://hub.{self.domain}/static/site.css", f"http://hub.{self.domain}/static/logo.png"]

    def page_requisites(self, i: int) -> list[str]:
        if not self.requisites:
            return [f"http://{self.host(i)}/static/logo.png"]
        h = f"http://{self.host(i)}"
        return [f"{h}/img/{i:06d}.jpg", f"{h}/static/site.css", f"{h}/static/app.js",
                f"{h}/static/logo.png"]

    def all_urls(self) -> list[str]:
        """Every URL a complete capture of the hub fetches (CSS backgrounds included), once."""
        out = [self.hub_url, *self.hub_requisites(), f"http://hub.{self.domain}/static/bg.png"]
        seen = set(out)
        for i in range(self.pages):
            urls = [self.page_url(i), *self.page_requisites(i)]
            if self.requisites:
                urls.append(f"http://{self.host(i)}/static/bg.png")
            for u in urls:
                if u not in seen:
                    seen.add(u)
                    out.append(u)
        return out


# -- the responses -------------------------------------------------------------------------------
class Site:
    """Builds responses from the spec; static assets cached, pages sliced from a corpus."""

    def __init__(self, spec: SiteSpec) -> None:
        self.spec = spec
        rnd = random.Random(spec.seed)
        self.text = " ".join(rnd.choice(_WORDS) for _ in range(400_000))
        self.binary = rnd.randbytes(max(4 * spec.image_bytes, 1 << 20))
        self._static: dict[str, tuple[str, bytes]] = {}
        self._hub: bytes | None = None

    def _slice_text(self, i: int, n: int) -> str:
        start = (i * 7919) % (len(self.text) - n - 1)
        return self.text[start:start + n]

    def _page(self, i: int) -> bytes:
        spec = self.spec
        reqs = spec.page_requisites(i)
        img = f'<img src="/img/{i:06d}.jpg" alt="figure {i}">' if spec.requisites else ""
        head = (
            f'<!doctype html><html><head><meta charset="utf-8"><title>Report {i}</title>'
            + ('<link rel="stylesheet" href="/static/site.css"><script src="/static/app.js"></script>'
               if spec.requisites else "")
            + f'<link rel="icon" href="{urlsplit(reqs[-1]).path}"></head><body>'
            f'<header><nav><a href="/">Home</a></nav></header><main><article><h1>Report {i}</h1>{img}<p>'
        )
        tail = "</p></article></main><footer>bench</footer></body></html>"
        body = self._slice_text(i, max(0, spec.page_bytes - len(head) - len(tail)))
        return (head + body + tail).encode()

    def _hub_page(self) -> bytes:
        if self._hub is None:
            spec = self.spec
            items = "".join(
                f'<li><a href="{spec.page_url(i)}">Report {i}</a></li>' for i in range(spec.pages)
            )
            self._hub = (
                '<!doctype html><html><head><meta charset="utf-8"><title>Hub</title>'
                '<link rel="stylesheet" href="/static/site.css"><link rel="icon" href="/static/logo.png">'
                f"</head><body><main><h1>All reports</h1><ul>{items}</ul></main></body></html>"
            ).encode()
        return self._hub

    def _article(self, k: int) -> bytes:
        cites = "".join(
            f'<p>As <a href="{self.spec.page_url(i)}">report {i}</a> shows, {self._slice_text(i, 300)}</p>'
            for i in range(10 * k, 10 * k + 10)
        )
        return (
            f'<!doctype html><html><head><meta charset="utf-8"><title>Article {k}</title>'
            '<link rel="stylesheet" href="/static/site.css"><link rel="icon" href="/static/logo.png">'
            f'</head><body><header><nav><a href="/">News</a></nav></header><main><article>'
            f"<h1>Article {k}</h1>{cites}</article></main></body></html>"
        ).encode()

    def _big_page(self) -> bytes:
        links = "".join(f'<p><a href="{self.spec.page_url(i)}">Report {i}</a> ' for i in range(50))
        head = ('<!doctype html><html><head><title>Big</title><link rel="stylesheet" '
                f'href="/static/site.css"></head><body><main>{links}<p>')
        tail = "</p></main></body></html>"
        return (head + self._slice_text(3, self.spec.big_page_bytes - len(head) - len(tail)) + tail).encode()

    def _asset(self, path: str) -> tuple[str, bytes] | None:
        if path not in self._static:
            n = len(self._static) + 1
            if path == "/static/site.css":
                css = "body{font:16px serif;background:url(/static/bg.png)}\n"
                rule = ".c{} {{margin:{}px;padding:{}px;color:#{:06x}}}\n"
                css += "".join(rule.format(k, k % 9, k % 7, k * 4099 % 0xFFFFFF) for k in range(280))
                self._static[path] = ("text/css", css.encode())
            elif path == "/static/app.js":
                js = "".join(f"function f{k}(a){{return a*{k}+{k % 13};}}\n" for k in range(650))
                self._static[path] = ("application/javascript", js.encode())
            elif path in ("/static/logo.png", "/static/bg.png"):
                size = 6_000 if path.endswith("logo.png") else 8_000
                self._static[path] = ("image/png", self.binary[n * 997:n * 997 + size])
            else:
                return None
        return self._static[path]

    def respond(self, host: str, path: str) -> tuple[int, str, bytes]:
        spec = self.spec
        if host == f"hub.{spec.domain}":
            if path == "/":
                return 200, "text/html; charset=utf-8", self._hub_page()
            if path == "/big.html":
                return 200, "text/html; charset=utf-8", self._big_page()
        elif host == f"news.{spec.domain}" and path.startswith("/a/") and path.endswith(".html"):
            k = int(path[3:-5]) if path[3:-5].isdigit() else -1
            if 0 <= k < spec.articles:
                return 200, "text/html; charset=utf-8", self._article(k)
        elif host.endswith(f".{spec.domain}") and path.startswith("/p/") and path.endswith(".html"):
            try:
                i = int(path[3:-5])
            except ValueError:
                i = -1
            if 0 <= i < spec.pages and spec.host(i) == host:
                return 200, "text/html; charset=utf-8", self._page(i)
        elif host.endswith(f".{spec.domain}") and path.startswith("/img/") and spec.requisites:
            try:
                i = int(path[5:-4])
            except ValueError:
                i = -1
            if 0 <= i < spec.pages:
                start = (i * 104729) % (len(self.binary) - spec.image_bytes)
                return 200, "image/jpeg", self.binary[start:start + spec.image_bytes]
        asset = self._asset(path) if host.endswith(f".{spec.domain}") else None
        if asset is not None:
            return 200, asset[0], asset[1]
        return 404, "text/plain", b"not found\n"
