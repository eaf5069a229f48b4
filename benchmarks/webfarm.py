"""The benchmarks' own fake web: a synthetic site of many hosts served by one asyncio HTTP server
that is also an HTTP proxy for any host name, run in its own process so its CPU is measured apart.

Why not tests/fakeweb/: that one is threaded and built for exact, per-test behaviour; here the
server must stay far below the crawlers it serves (thousands of requests a second on one core),
so responses are generated from a compact spec with cheap slicing and no per-request threads.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["SiteSpec", "WebFarm", "stats_delta"]

_STATS_PATH = "/__bench/stats"
_RESET_PATH = "/__bench/stats-reset"  # the same, then the in-flight peaks start again from now
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


# -- the site ------------------------------------------------------------------------------------
class _Site:
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


# -- the server ----------------------------------------------------------------------------------
@dataclass
class _Counters:
    requests: int = 0
    body_bytes: int = 0
    not_found: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class _Server:
    def __init__(self, spec: SiteSpec) -> None:
        self.site = _Site(spec)
        self.delay = spec.delay
        self.counters = _Counters()
        self.inflight: dict[str, int] = {}  # host -> requests received and not yet answered
        self.peaks: dict[str, int] = {}  # host -> most in flight at once since the last reset
        self.peak_total = 0

    def _stats(self, reset: bool) -> bytes:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        doc = asdict(self.counters) | {
            "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss, "pid": os.getpid(),
            "peak_inflight": self.peak_total, "peak_inflight_by_host": dict(self.peaks),
        }
        if reset:
            self.peaks = {h: n for h, n in self.inflight.items() if n}
            self.peak_total = sum(self.inflight.values())
        return json.dumps(doc).encode()

    def _enter(self, host: str) -> None:
        n = self.inflight[host] = self.inflight.get(host, 0) + 1
        self.peaks[host] = max(self.peaks.get(host, 0), n)
        self.peak_total = max(self.peak_total, sum(self.inflight.values()))

    def _leave(self, host: str) -> None:
        self.inflight[host] -= 1

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = (lines[0].split(" ", 2) + ["", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    k, sep, v = line.partition(":")
                    if sep:
                        headers[k.strip().lower()] = v.strip()
                if headers.get("content-length"):
                    await reader.readexactly(int(headers["content-length"]))
                keep = version == "HTTP/1.1" and "close" not in (
                    headers.get("connection", "") + headers.get("proxy-connection", "")
                ).lower()
                if target.startswith(("http://", "https://")):
                    parts = urlsplit(target)
                    host, path = (parts.hostname or "").lower(), parts.path or "/"
                else:
                    host, path = headers.get("host", "").split(":")[0].lower(), target.split("?")[0]
                counted = path not in (_STATS_PATH, _RESET_PATH) and method in ("GET", "HEAD")
                if not counted:
                    status, ctype, body = ((200, "application/json", self._stats(path == _RESET_PATH))
                                           if path in (_STATS_PATH, _RESET_PATH)
                                           else (405, "text/plain", b"method not allowed\n"))
                else:
                    self._enter(host)  # until the response is written: what the client has in flight
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    status, ctype, body = self.site.respond(host, path)
                    c = self.counters
                    c.requests += 1
                    c.body_bytes += len(body)
                    if status != 200:
                        kind = "404"
                    else:
                        kind = "hub" if host.startswith("hub.") else path.split("/")[1]
                    c.by_kind[kind] = c.by_kind.get(kind, 0) + 1
                    if status == 404:
                        c.not_found += 1
                reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
                out = (
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nCache-Control: max-age=3600\r\n"
                    f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
                ).encode("latin-1")
                writer.write(out if method == "HEAD" else out + body)
                try:
                    await writer.drain()
                finally:
                    if counted:
                        self._leave(host)
                if not keep:
                    return
        finally:
            writer.close()


def _serve(spec: SiteSpec) -> None:
    async def main() -> None:
        server = _Server(spec)
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=1024)
        print(srv.sockets[0].getsockname()[1], flush=True)
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


class WebFarm:
    """Runs the fake web in a child process: `with WebFarm(SiteSpec()) as web: web.proxy_url`."""

    def __init__(self, spec: SiteSpec) -> None:
        self.spec = spec
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> WebFarm:
        root = Path(__file__).resolve().parent.parent
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.webfarm", json.dumps(asdict(self.spec))],
            cwd=root, stdout=subprocess.PIPE, text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError("the fake web did not start (see its stderr above)")
        self.port = int(line)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self, reset_peaks: bool = False) -> dict[str, Any]:
        """Requests served, body bytes, 404s, and the server process's own CPU seconds so far; the
        most requests in flight at once (in all, and per host) since the last `reset_peaks`."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        path = _RESET_PATH if reset_peaks else _STATS_PATH
        with opener.open(f"{self.proxy_url}{path}", timeout=30) as resp:
            doc: dict[str, Any] = json.loads(resp.read())
        doc["at"] = time.monotonic()
        return doc


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What the fake web did between two stats() calls, with its CPU share of one core."""
    wall = max(after["at"] - before["at"], 1e-9)
    cpu = after["cpu"] - before["cpu"]
    kinds = {k: v - before["by_kind"].get(k, 0) for k, v in after["by_kind"].items()}
    return {
        "requests": after["requests"] - before["requests"],
        "body_bytes": after["body_bytes"] - before["body_bytes"],
        "not_found": after["not_found"] - before["not_found"],
        "by_kind": {k: v for k, v in kinds.items() if v},
        "cpu": cpu,
        "cpu_share": cpu / wall,
        "peak_inflight": after.get("peak_inflight", 0),  # since `before` if it reset the peaks
        "peak_inflight_by_host": after.get("peak_inflight_by_host", {}),
    }


if __name__ == "__main__":
    _serve(SiteSpec(**json.loads(sys.argv[1])))
