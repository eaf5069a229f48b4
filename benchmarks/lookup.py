"""Index lookups (3) and replay (4): citevault's /cdx and /web/ against pywb's CDXJ index and
replay, on the same captures (generated rows pointing at real WARC records)."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from .capture import _citevault_add
from .measure import percentile
from .servers import CitevaultServer, Client, PywbServer, pywb_missing
from .webfarm import SiteSpec, WebFarm

__all__ = ["build_base", "lookup_bench", "replay_bench"]

_PER_URL = 10  # captures per URL: one a year
_HOSTS = 20
_EPOCH = datetime(2015, 3, 1)


def _url(i: int) -> str:
    return f"http://h{i % _HOSTS + 1:02d}.bench.test/p/{i:07d}.html"


def _surt(i: int) -> str:
    return f"test,bench,h{i % _HOSTS + 1:02d})/p/{i:07d}.html"


def _ts(i: int, k: int) -> str:
    return (_EPOCH + timedelta(days=365 * k, seconds=i * 7)).strftime("%Y%m%d%H%M%S")


def build_base(work: Path, log: Any = print) -> Path:
    """A home with real captures: a small hub site and the 100 KB page."""
    from citevault.storage.index import surt_key

    for i in (0, 7, 123456):
        assert surt_key(_url(i)) == _surt(i), (surt_key(_url(i)), _surt(i))
    home = work / "base"
    spec = SiteSpec(pages=20, delay=0.0)
    with WebFarm(spec) as web:
        _citevault_add(home, web, "--scope", "all", spec.hub_url)
        _citevault_add(home, web, "--depth", "0", spec.big_url)
    log(f"  base archive: {sum(1 for _ in (home / 'warcs').iterdir())} WARC file(s) in {home}")
    return home


def _populate(home: Path, n_captures: int) -> int:
    """Add generated Capture rows (cycling over the real response records); returns URL count."""
    con = sqlite3.connect(home / "citevault.db")
    try:
        real = con.execute(
            "select snapshot_id, mime, status, digest, sha256, length, warc, offset, record_length"
            " from captures where record_type='response' and status=200 order by id"
        ).fetchall()
        n_urls = max(1, n_captures // _PER_URL)
        con.execute("PRAGMA synchronous=OFF")

        def rows() -> Any:
            for i in sorted(range(n_urls), key=_surt):
                for k in range(_PER_URL):
                    snap, mime, status, digest, sha256, length, warc, offset, rlen = real[(i + k) % len(real)]
                    yield (snap, _url(i), _surt(i), _ts(i, k), status, mime, digest, sha256, length,
                           warc, offset, rlen, "response", "cited")

        con.executemany(
            "insert into captures (snapshot_id, url, surt, timestamp, status, mime, digest, sha256,"
            " length, warc, offset, record_length, record_type, role)"
            " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows(),
        )
        con.commit()
        con.execute("ANALYZE")
        return n_urls
    finally:
        con.close()


def _write_pywb_collection(home: Path, directory: Path) -> None:
    """pywb's collection over the same captures: a sorted CDXJ index and the same WARC files."""
    coll = directory / "collections" / "bench"
    (coll / "indexes").mkdir(parents=True, exist_ok=True)
    if not (coll / "archive").exists():
        (coll / "archive").symlink_to(home / "warcs", target_is_directory=True)
    con = sqlite3.connect(home / "citevault.db")
    lines = []
    try:
        for surt, ts, url, mime, status, digest, rlen, offset, warc in con.execute(
            "select surt, timestamp, url, mime, status, digest, record_length, offset, warc"
            " from captures where warc is not null"
        ):
            doc = {"url": url, "mime": mime or "unk", "status": str(status),
                   "digest": digest.removeprefix("sha1:"), "length": str(rlen), "offset": str(offset),
                   "filename": warc}
            lines.append(f"{surt} {ts} {json.dumps(doc)}\n")
    finally:
        con.close()
    lines.sort()
    with open(coll / "indexes" / "index.cdxj", "w", encoding="utf-8") as fh:
        fh.writelines(lines)


def _queries(n_urls: int, count: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """(citevault path, pywb path) per query kind; the same queries for both."""
    rnd = random.Random(seed)
    out: dict[str, list[tuple[str, str]]] = {"exact": [], "prefix": [], "closest": []}
    for _ in range(count):
        i = rnd.randrange(n_urls)
        url = quote(_url(i), safe=":/")
        prefix = quote(f"http://h{i % _HOSTS + 1:02d}.bench.test/p/{i:07d}"[:-2], safe=":/")
        ts = _ts(rnd.randrange(n_urls), rnd.randrange(_PER_URL))
        qs = {
            "exact": f"url={url}",
            "prefix": f"url={prefix}&matchType=prefix&limit=100",
            "closest": f"url={url}&closest={ts}&sort=closest&limit=1",
        }
        for kind, q in qs.items():
            out[kind].append((f"/cdx?{q}", f"/bench/cdx?{q}"))
    return out


def _time(client: Client, paths: list[str], warmup: int = 10) -> tuple[list[float], list[int], str | None]:
    for p in paths[:warmup]:
        client.get(p)
    times, lines, error = [], [], None
    for p in paths:
        status, body, secs = client.get(p)
        if status != 200 and error is None:
            error = f"HTTP {status} for {p}: {body[:200]!r}"
        times.append(secs * 1000)
        lines.append(body.count(b"\n"))
    return times, lines, error


def _time_inprocess(home: Path, paths: list[str], warmup: int = 10) -> list[float]:
    """The framework-free query (citevault.cdx: parse, SQL, render) without HTTP, in ms."""
    from citevault.cdx import parse_query, query_rows, render
    from citevault.storage.db import open_index

    index = open_index(f"sqlite:///{home / 'citevault.db'}", migrate=False)
    times = []
    try:
        with index.session() as s:
            for n, p in enumerate(paths[:warmup] + paths):
                start = time.perf_counter()
                q = parse_query(parse_qs(urlsplit(p).query))
                render(query_rows(s, q), q)
                if n >= warmup:
                    times.append((time.perf_counter() - start) * 1000)
    finally:
        index.dispose()
    return times


def _pct(times: list[float]) -> dict[str, float]:
    return {"p50": percentile(times, 50), "p99": percentile(times, 99)}


def lookup_bench(base: Path, sizes: list[int], queries: int, log: Any = print) -> dict[str, Any]:
    """p50/p99 of /cdx exact, prefix and closest queries at each index size, both sides."""
    missing = pywb_missing()
    results: list[dict[str, Any]] = []
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"cvbench-idx{n}-"))
        try:
            home = work / "home"
            shutil.copytree(base, home)
            n_urls = _populate(home, n)
            row: dict[str, Any] = {"captures": n, "urls": n_urls}
            qs = _queries(n_urls, queries, seed=n)
            for kind, pairs in qs.items():
                row[f"inproc_{kind}"] = _pct(_time_inprocess(home, [a for a, _ in pairs]))
            with CitevaultServer(home) as cv:
                client = Client(cv.port)
                row["citevault_healthz"] = _pct(_time(client, ["/healthz"] * queries)[0])
                for kind, pairs in qs.items():
                    times, lines, err = _time(client, [a for a, _ in pairs])
                    row[f"citevault_{kind}"] = _pct(times) | {"rows": sum(lines) / len(lines), "error": err}
            if missing is None:
                _write_pywb_collection(home, work / "pywb")
                with PywbServer(work / "pywb") as pw:
                    client = Client(pw.port)
                    for kind, pairs in qs.items():
                        times, lines, err = _time(client, [b for _, b in pairs])
                        row[f"pywb_{kind}"] = _pct(times) | {"rows": sum(lines) / len(lines), "error": err}
                log("  index " + f"{n:>9,} captures: " + ", ".join(
                f"{side} {kind} p50 {row[f'{side}_{kind}']['p50']:.1f} ms"
                for side in ("inproc", "citevault", "pywb") for kind in ("exact", "prefix", "closest")
                if f"{side}_{kind}" in row
            ))
            results.append(row)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return {"rows": results, "pywb_missing": missing, "queries": queries}


def replay_bench(base: Path, requests: int, log: Any = print) -> dict[str, Any]:
    """p50/p99 of serving the archived 100 KB page, raw (id_) and rewritten, both sides."""
    spec = SiteSpec()
    con = sqlite3.connect(base / "citevault.db")
    try:
        ts, length = con.execute(
            "select timestamp, length from captures where url=? and warc is not null", (spec.big_url,)
        ).fetchone()
    finally:
        con.close()
    # pywb's plain /{ts}/ answers a frame page; mp_ is the rewritten page itself.
    paths = {"raw": (f"{ts}id_/{spec.big_url}",) * 2,
             "rewritten": (f"{ts}/{spec.big_url}", f"{ts}mp_/{spec.big_url}")}
    out: dict[str, Any] = {"payload_bytes": length, "requests": requests, "pywb_missing": pywb_missing()}
    work = Path(tempfile.mkdtemp(prefix="cvbench-replay-"))
    try:
        with CitevaultServer(base) as cv:
            client = Client(cv.port)
            for kind, p in paths.items():
                times, _, err = _time(client, [f"/web/{p[0]}"] * requests)
                out[f"citevault_{kind}"] = _pct(times) | {"error": err}
        if out["pywb_missing"] is None:
            _write_pywb_collection(base, work / "pywb")
            with PywbServer(work / "pywb") as pw:
                client = Client(pw.port)
                for kind, p in paths.items():
                    times, _, err = _time(client, [f"/bench/{p[1]}"] * requests)
                    out[f"pywb_{kind}"] = _pct(times) | {"error": err}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log("  replay: " + ", ".join(
        f"{k} p50 {v['p50']:.1f} ms" for k, v in out.items() if isinstance(v, dict)
    ))
    return out
