"""The benchmarks' own fake web: the synthetic site of sitemodel.py served by one asyncio HTTP
server that is also an HTTP proxy for any host name, run in its own process so its CPU is measured
apart, and counting what it serves (requests, bytes, requests in flight per host).

Why not tests/fakeweb/: that one is threaded and built for exact, per-test behaviour; here the
server must stay far below the crawlers it serves (thousands of requests a second on one core),
so responses are generated from a compact spec with cheap slicing and no per-request threads.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .sitemodel import Site, SiteSpec

# SiteSpec is part of this module's surface: a WebFarm is built from one.
__all__ = ["SiteSpec", "WebFarm", "stats_delta"]

_STATS_PATH = "/__bench/stats"
_RESET_PATH = "/__bench/stats-reset"  # the same, then the in-flight peaks start again from now


# -- the server ----------------------------------------------------------------------------------
@dataclass
class _Counters:
    requests: int = 0
    body_bytes: int = 0
    not_found: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class _Server:
    def __init__(self, spec: SiteSpec) -> None:
        self.site = Site(spec)
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
