"""The network floor of the latency-bound farm (issue 15, target 2): the shortest wall time any
crawler needs for a complete capture of the hub, given only the site's structure, the per-response
delay, the global concurrency and the per-host limit; no CPU, no disk, no start-up.

A URL can be fetched once a page or stylesheet that refers to it has been fetched (the hub; then
the hub's requisites and every page; then each page's image and its host's shared stylesheet,
script and logo; then the background image its stylesheet names). Every fetch takes the server's
delay. The schedule starts, at every moment, as many available URLs as both limits allow, those
that unlock the most levels below them first (Hu's highest-level-first rule): with equal fetch
times this is a schedule a crawler could follow, so its length is a floor that can be reached. The
lower bound beside it (the dependency depth, the URLs over the global concurrency, each host's
URLs over the per-host limit) says how far from the ideal that schedule is.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

from .webfarm import SiteSpec

__all__ = ["network_floor", "referrers"]


def referrers(spec: SiteSpec) -> dict[str, list[str]]:
    """URL -> the fetched URLs whose content names it (empty for the hub), every URL of
    `spec.all_urls()` once."""
    hub = spec.hub_url
    hub_css = f"http://hub.{spec.domain}/static/site.css"
    refs: dict[str, list[str]] = defaultdict(list)
    refs[hub] = []
    for url in spec.hub_requisites():
        refs[url].append(hub)
    refs[f"http://hub.{spec.domain}/static/bg.png"].append(hub_css)
    for i in range(spec.pages):
        page = spec.page_url(i)
        refs[page].append(hub)
        for url in spec.page_requisites(i):
            refs[url].append(page)
        if spec.requisites:
            refs[f"http://{spec.host(i)}/static/bg.png"].append(f"http://{spec.host(i)}/static/site.css")
    missing = set(spec.all_urls()) ^ set(refs)
    assert not missing, f"the floor's site model and SiteSpec.all_urls disagree: {sorted(missing)[:5]}"
    return {u: list(dict.fromkeys(r)) for u, r in refs.items()}


def _children(refs: dict[str, list[str]]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = defaultdict(list)
    for url, parents in refs.items():
        for p in parents:
            children[p].append(url)
    return children


def _levels(refs: dict[str, list[str]]) -> dict[str, int]:
    """Longest chain of fetches a URL unlocks below it (0 for a leaf)."""
    children = _children(refs)
    memo: dict[str, int] = {}

    def level(url: str) -> int:
        if url not in memo:
            memo[url] = 1 + max((level(c) for c in children[url]), default=-1)
        return memo[url]

    return {u: level(u) for u in refs}


def network_floor(spec: SiteSpec, concurrency: int, per_host: int) -> dict[str, Any]:
    """Seconds of the schedule above, its lower bound and what binds it."""
    refs = referrers(spec)
    levels, children = _levels(refs), _children(refs)
    order = {u: k for k, u in enumerate(spec.all_urls())}
    host = {u: urlsplit(u).hostname or "" for u in refs}
    ready = {u for u, parents in refs.items() if not parents}
    released = set(ready)
    waves = 0
    peak_host = 0
    while ready:  # equal fetch times: the schedule advances in waves of one delay
        waves += 1
        started: list[str] = []
        by_host: dict[str, int] = defaultdict(int)
        for url in sorted(ready, key=lambda u: (-levels[u], order[u])):
            if len(started) == concurrency:
                break
            if by_host[host[url]] < per_host:
                by_host[host[url]] += 1
                started.append(url)
        peak_host = max(peak_host, *by_host.values())
        ready.difference_update(started)
        for url in started:
            for child in children[url]:
                if child not in released:
                    released.add(child)
                    ready.add(child)
    n = len(refs)
    per_host_urls: dict[str, int] = defaultdict(int)
    for url in refs:
        per_host_urls[host[url]] += 1
    bounds = {
        "dependency depth": max(levels.values()) + 1,
        "global concurrency": 1 + -(-(n - 1) // concurrency),  # the hub alone, then full waves
        "per-host limit": max(-(-k // per_host) for k in per_host_urls.values()),
    }
    binding = max(bounds, key=lambda k: bounds[k])
    return {
        "urls": n, "concurrency": concurrency, "per_host": per_host, "delay": spec.delay,
        "waves": waves, "floor": round(waves * spec.delay, 3),
        "lower_bound": round(bounds[binding] * spec.delay, 3), "binding": binding,
        "bounds_waves": bounds, "peak_per_host": peak_host,
    }
