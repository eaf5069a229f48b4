"""Index lookups (3) and replay (4): citevault's /cdx and /web/ against pywb's CDXJ index and
replay, on the same captures (generated rows pointing at real WARC records), with the index in
SQLite (the default) and, where a server is given, in PostgreSQL."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
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
# The PostgreSQL server the PostgreSQL rows use: a database `cvbench_lookup` (or the name in
# CITEVAULT_BENCH_PG_DB, so that two runs on one server do not drop each other's) is made (and
# dropped) on it. The default is this machine's (trust auth), as the tests use.
PG_ADMIN_URL = os.environ.get("CITEVAULT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
_PG_DB = os.environ.get("CITEVAULT_BENCH_PG_DB", "cvbench_lookup")
_COLUMNS = ("snapshot_id, url, surt, timestamp, status, mime, digest, sha256, length, warc, offset,"
            " record_length, record_type, role")
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


def _rows(real: list[Any], n_urls: int) -> Any:
    """The generated capture rows, in SURT order, cycling over the real response records."""
    for i in sorted(range(n_urls), key=_surt):
        for k in range(_PER_URL):
            snap, mime, status, digest, sha256, length, warc, offset, rlen = real[(i + k) % len(real)]
            yield (snap, _url(i), _surt(i), _ts(i, k), status, mime, digest, sha256, length,
                   warc, offset, rlen, "response", "cited")


def _pg_url(driver: str = "postgresql+psycopg") -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base.replace('postgresql://', driver + '://', 1)}/{_PG_DB}"


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as con:
        con.execute(sql)


def pg_missing() -> str | None:
    """Why the PostgreSQL rows cannot run here, or None when they can."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any reason is reported, the SQLite rows still run
        return f"PostgreSQL at {PG_ADMIN_URL} unavailable: {str(exc).strip().splitlines()[0]}"


def _populate_pg(home: Path, n_captures: int) -> int:
    """A fresh PostgreSQL index of the base archive (`citevault reindex` from its WARC files) plus
    the same generated rows as `_populate`, loaded with COPY; returns the URL count."""
    import psycopg

    _pg_admin(f"DROP DATABASE IF EXISTS {_PG_DB} WITH (FORCE)")
    _pg_admin(f"CREATE DATABASE {_PG_DB}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEVAULT_")}
    env |= {"CITEVAULT_HOME": str(home), "CITEVAULT_DATABASE_URL": _pg_url()}
    subprocess.run([str(Path(sys.executable).parent / "citevault"), "reindex"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    with psycopg.connect(_pg_url("postgresql")) as con:
        real = con.execute(
            "select snapshot_id, mime, status, digest, sha256, length, warc, \"offset\", record_length"
            " from captures where record_type='response' and status=200 order by id"
        ).fetchall()
        n_urls = max(1, n_captures // _PER_URL)
        cols = _COLUMNS.replace("offset", '"offset"')
        with con.cursor() as cur, cur.copy(f"COPY captures ({cols}) FROM STDIN") as copy:
            for row in _rows(real, n_urls):
                copy.write_row(row)
        con.commit()
        con.execute("ANALYZE captures")
        con.commit()
    return n_urls


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
        con.executemany(f"insert into captures ({_COLUMNS}) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        _rows(real, n_urls))
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


def _time_inprocess(db_url: str, paths: list[str], warmup: int = 10) -> list[float]:
    """The framework-free query (citevault.cdx: parse, SQL, render) without HTTP, in ms."""
    from citevault.cdx import parse_query, query_rows, render
    from citevault.storage.db import open_index

    index = open_index(db_url, migrate=False)
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


def lookup_bench(base: Path, sizes: list[int], queries: int, log: Any = print,
                 backends: tuple[str, ...] = ("sqlite", "postgresql")) -> dict[str, Any]:
    """p50/p99 of /cdx exact, prefix and closest queries at each index size and index backend,
    and pywb's CDXJ index over the same rows (once per size: it does not depend on our backend);
    over HTTP also the server process's CPU per request (`cpu_ms`, warm-up included: what the
    machine's load does not inflate; a PostgreSQL backend's CPU is not in it)."""
    missing = pywb_missing()
    pg_skip = pg_missing() if "postgresql" in backends else None
    results: list[dict[str, Any]] = []
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix=f"cvbench-idx{n}-"))
        try:
            home = work / "home"
            shutil.copytree(base, home)
            for backend in backends:
                if backend == "postgresql" and pg_skip:
                    continue
                start = time.perf_counter()
                if backend == "sqlite":
                    n_urls, db_url = _populate(home, n), f"sqlite:///{home / 'citevault.db'}"
                else:
                    n_urls, db_url = _populate_pg(home, n), _pg_url()
                row: dict[str, Any] = {"captures": n, "urls": n_urls, "backend": backend,
                                       "load_s": round(time.perf_counter() - start, 1),
                                       "loadavg": os.getloadavg()[0]}
                qs = _queries(n_urls, queries, seed=n)
                for kind, pairs in qs.items():
                    row[f"inproc_{kind}"] = _pct(_time_inprocess(db_url, [a for a, _ in pairs]))
                with CitevaultServer(home, database_url=None if backend == "sqlite" else db_url) as cv:
                    client = Client(cv.port)
                    row["citevault_healthz"] = _pct(_time(client, ["/healthz"] * queries)[0])
                    for kind, pairs in qs.items():
                        cpu = cv.cpu_seconds()
                        times, lines, err = _time(client, [a for a, _ in pairs])
                        row[f"citevault_{kind}"] = _pct(times) | {"rows": sum(lines) / len(lines),
                                                                  "error": err,
                                                                  "cpu_ms": _cpu_ms(cv, cpu, queries)}
                if missing is None and backend == "sqlite":
                    _write_pywb_collection(home, work / "pywb")
                    with PywbServer(work / "pywb") as pw:
                        client = Client(pw.port)
                        for kind, pairs in qs.items():
                            cpu = pw.cpu_seconds()
                            times, lines, err = _time(client, [b for _, b in pairs])
                            row[f"pywb_{kind}"] = _pct(times) | {"rows": sum(lines) / len(lines),
                                                                 "error": err,
                                                                 "cpu_ms": _cpu_ms(pw, cpu, queries)}
                log(f"  index {n:>10,} captures ({backend}, loaded in {row['load_s']} s): " + ", ".join(
                    f"{side} {kind} p50 {row[f'{side}_{kind}']['p50']:.1f} ms"
                    for side in ("inproc", "citevault", "pywb") for kind in ("exact", "prefix", "closest")
                    if f"{side}_{kind}" in row
                ) + f"; server CPU per request (load {row['loadavg']:.1f}): " + ", ".join(
                    f"{side} {kind} {row[f'{side}_{kind}']['cpu_ms']:.2f} ms"
                    for side in ("citevault", "pywb") for kind in ("exact", "prefix", "closest")
                    if f"{side}_{kind}" in row
                ))
                results.append(row)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            if "postgresql" in backends and not pg_skip:
                _pg_admin(f"DROP DATABASE IF EXISTS {_PG_DB} WITH (FORCE)")
    return {"rows": results, "pywb_missing": missing, "pg_missing": pg_skip, "queries": queries}


def _cpu_ms(server: CitevaultServer | PywbServer, before: float, requests: int) -> float:
    """The server's CPU per request since `before`, warm-up requests (10) included."""
    return (server.cpu_seconds() - before) * 1000 / (requests + 10)


def replay_bench(base: Path, requests: int, log: Any = print) -> dict[str, Any]:
    """p50/p99 of serving the archived 100 KB page, raw (id_) and rewritten, both sides, and
    the server process's CPU per request (`cpu_ms`: wall time on a shared machine is noisy)."""
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
                cpu = cv.cpu_seconds()
                times, _, err = _time(client, [f"/web/{p[0]}"] * requests)
                out[f"citevault_{kind}"] = _pct(times) | {"error": err, "cpu_ms": _cpu_ms(cv, cpu, requests)}
        if out["pywb_missing"] is None:
            _write_pywb_collection(base, work / "pywb")
            with PywbServer(work / "pywb") as pw:
                client = Client(pw.port)
                for kind, p in paths.items():
                    cpu = pw.cpu_seconds()
                    times, _, err = _time(client, [f"/bench/{p[1]}"] * requests)
                    out[f"pywb_{kind}"] = _pct(times) | {"error": err, "cpu_ms": _cpu_ms(pw, cpu, requests)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log("  replay: " + ", ".join(
        f"{k} p50 {v['p50']:.1f} ms, CPU {v['cpu_ms']:.2f} ms/request" for k, v in out.items()
        if isinstance(v, dict)
    ))
    return out
