"""HTML of the web interface's pages, built from string.Template snippets in which every value is
escaped unless it is already `Html` (built by `t` or `join`). Framework-free."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from string import Template
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "Html",
    "add_form",
    "captures_table",
    "citations_section",
    "cited_table",
    "join",
    "layout",
    "replay_href",
    "snapshots_section",
    "source_header",
    "sources_table",
    "t",
]

REFRESH_SECONDS = 3
_STATES = frozenset({"queued", "running", "done", "partial", "failed"})
_OUTCOMES = frozenset({"alive", "redirected", "drifted", "gone", "error"})


class Html(str):
    """Markup that is already safe: inserted into templates as it is."""


def _esc(value: object) -> str:
    if isinstance(value, Html):
        return value
    return "" if value is None else html.escape(str(value), quote=True)


def t(template: str, **values: object) -> Html:
    """`template` (string.Template syntax) filled with `values`, each escaped unless it is Html."""
    return Html(Template(template).substitute({k: _esc(v) for k, v in values.items()}))


def join(parts: Iterable[object], sep: str = "") -> Html:
    return Html(sep.join(_esc(p) for p in parts))


_LAYOUT = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">$refresh
<title>$title · citevault</title>
<link rel="stylesheet" href="$root/ui/static/style.css">
</head><body>
<header><a class="brand" href="$root/">citevault</a>
<form class="search" action="$root/ui/search" method="get" role="search">
<input type="text" name="url" value="$query" placeholder="https://… (find its captures)" aria-label="URL">
<button>Find captures</button></form></header>
<main>
$body
</main>
<footer>citevault keeps cited web sources alive · <a href="$root/docs">HTTP API</a></footer>
</body></html>
"""


def layout(root: str, title: str, body: Html, *, refresh: bool = False, query: str = "") -> Html:
    meta = Html(f'\n<meta http-equiv="refresh" content="{REFRESH_SECONDS}">') if refresh else ""
    return t(_LAYOUT, root=root, title=title, body=body, refresh=meta, query=query)


# -- small pieces --------------------------------------------------------------------------------------
def _when_ts(ts: str | None) -> str:
    """YYYYMMDDhhmmss as `YYYY-MM-DD hh:mm:ss`."""
    if not ts or len(ts) != 14:
        return ts or "—"
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]} {ts[8:10]}:{ts[10:12]}:{ts[12:14]}"


def _when_iso(iso: str | None) -> str:
    return iso.replace("T", " ").removesuffix("Z") if iso else "—"


def _badge(prefix: str, value: str | None, known: frozenset[str]) -> Html:
    if value is None:
        return Html('<span class="muted">—</span>')
    cls = f"{prefix}-{value}" if value in known else ""
    return t('<span class="badge $cls">$v</span>', cls=cls, v=value)


def _state(value: str | None) -> Html:
    return _badge("s", value, _STATES)


def _health(value: str | None) -> Html:
    return _badge("h", value, _OUTCOMES) if value else Html('<span class="muted">unchecked</span>')


def _live(url: str, text: str | None = None) -> Html:
    """A link to the live web, only for http(s) URLs; anything else is shown as text."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        return t("<code>$u</code>", u=url)
    return t('<a href="$u" rel="noreferrer noopener">$text</a>', u=url, text=text or url)


def replay_href(root: str, ts: str, url: str, modifier: str = "") -> str:
    return f"{root}/web/{ts}{modifier}/{url}"


def _options(choices: Sequence[tuple[str, str]], chosen: str) -> Html:
    return join(
        t('<option value="$v"$sel>$label</option>', v=v, label=label,
          sel=Html(" selected") if v == chosen else "")
        for v, label in choices
    )


# -- home ----------------------------------------------------------------------------------------------
_FORM = """<form class="archive" action="$root/ui/add" method="post">
<label for="f-url">URL</label>
<input id="f-url" type="url" name="url" value="$url" required placeholder="https://example.com/article">
<label for="f-depth">Capture</label><select id="f-depth" name="depth">$depth</select>
<label for="f-scope">Links to follow</label><select id="f-scope" name="scope">$scope</select>
<label for="f-every">Recapture every</label>
<input id="f-every" type="text" name="every" value="$every" placeholder="e.g. 6h, 1d, 7d (empty: only now)">
<label for="f-note">Note</label>
<input id="f-note" type="text" name="note" value="$note" placeholder="where you cite it (optional)">
$token<div class="wide"><button>Archive now</button></div>
</form>"""
_TOKEN = """<label for="f-token">API token</label>
<input id="f-token" type="password" name="token" required autocomplete="current-password"
 placeholder="this archive needs a token to archive">
"""


def add_form(root: str, values: Mapping[str, str], *, token_required: bool) -> Html:
    """The archive form, filled with `values` (as submitted; the token is never echoed)."""
    return t(
        _FORM, root=root, url=values.get("url", ""), every=values.get("every", ""),
        note=values.get("note", ""),
        depth=_options([("1", "the page and the sources it cites"), ("0", "only the page")],
                       values.get("depth", "1")),
        scope=_options([("cited", "links in the main content"), ("all", "every link on the page")],
                       values.get("scope", "cited")),
        token=Html(_TOKEN) if token_required else "",
    )


def _health_summary(health: Mapping[str, int]) -> Html:
    if not health:
        return Html('<span class="muted">not checked</span>')
    return join((t("$n $b", n=n, b=_health(outcome)) for outcome, n in sorted(health.items())), " ")


def sources_table(root: str, rows: Sequence[Mapping[str, Any]], total: int, *, first: bool = True,
                  page_size: int = 100) -> Html:
    """A page of sources, newest first, with a link to the next (older) page when there is one."""
    if not rows:
        if first:
            return Html('<p class="muted">Nothing archived yet: archive a URL with the form above.</p>')
        return t('<p class="muted">No older sources. <a href="$h">Newest sources</a></p>', h=f"{root}/")
    trs = join(
        t('<tr><td class="num"><a href="$href">$id</a></td><td class="url"><a href="$href">$url</a>$note'
          '</td><td>$last</td><td>$state</td><td class="num">$caps</td><td class="num">$cited</td>'
          '<td class="num">$req</td><td>$health</td></tr>',
          href=f"{root}/ui/sources/{r['id']}", id=r["id"], url=r["url"],
          note=t('<br><span class="muted">$n</span>', n=r["note"]) if r.get("note") else "",
          last=_when_iso(r.get("last_capture")), state=_state(r.get("last_state")),
          caps=r["captures"], cited=r["cited"], req=r["requisites"], health=_health_summary(r["health"]))
        for r in rows
    )
    more = t('<p class="muted">$total sources in all. <a href="$h">Older sources</a></p>', total=total,
             h=f"{root}/?before={rows[-1]['id']}#sources") if len(rows) >= page_size else ""
    return t('<table><thead><tr><th class="num">#</th><th>URL</th><th>Last capture (UTC)</th>'
             '<th>State</th><th class="num">Captures</th><th class="num">Cited</th>'
             '<th class="num">Requisites</th><th>Link health</th></tr></thead><tbody>$trs</tbody></table>'
             "$more", trs=trs, more=more)


# -- one source ----------------------------------------------------------------------------------------
def source_header(root: str, d: Mapping[str, Any]) -> Html:
    sid = d["id"]
    return t(
        '<h1>$url</h1><dl class="meta"><dt>Source</dt><dd>#$id, added $created UTC</dd>'
        "<dt>Live page</dt><dd>$live</dd>$note<dt>Captures</dt><dd>$depth, $scope</dd>"
        "<dt>Recapture</dt><dd>$schedule</dd><dt>Link health</dt><dd>$health</dd></dl>"
        '<p><a href="$wacz">Download WACZ</a> · <a href="$json">JSON</a> · '
        '<a href="$report">health report (JSON)</a></p>',
        url=d["url"], id=sid, created=_when_iso(d.get("created_at")), live=_live(d["url"]),
        note=t("<dt>Note</dt><dd>$n</dd>", n=d["note"]) if d.get("note") else "",
        depth="the page and the sources it cites" if d.get("depth") == 1 else "only the page",
        scope="main-content links" if d.get("scope") == "cited" else "every link",
        schedule=d.get("schedule") or "not scheduled", health=_health_summary(d.get("health") or {}),
        wacz=f"{root}/api/sources/{sid}/wacz", json=f"{root}/api/sources/{sid}",
        report=f"{root}/api/sources/{sid}/report",
    )


def captures_table(root: str, caps: Sequence[Mapping[str, Any]], *, with_source: bool = False) -> Html:
    """Captures with their replay and raw links (none for fetches that got no response)."""
    trs = []
    for c in caps:
        if c.get("warc"):
            copy = t('<a href="$replay">replay</a> · <a href="$raw">raw</a>',
                     replay=replay_href(root, c["timestamp"], c["url"]),
                     raw=replay_href(root, c["timestamp"], c["url"], "id_"))
        else:
            copy = t('<span class="muted">not archived: $e</span>', e=c.get("error") or "no record")
        kind = t(' <span class="muted">($k)</span>', k=c["record_type"]) \
            if c.get("record_type") not in (None, "response") else ""
        source = t('<td class="num"><a href="$h">#$id</a></td>', h=f"{root}/ui/sources/{c['source_id']}",
                   id=c["source_id"]) if with_source and c.get("source_id") is not None else \
            Html("<td></td>") if with_source else ""
        trs.append(t(
            '<tr><td>$when</td><td class="num">$status$kind</td><td>$role</td><td class="url">$url</td>'
            "<td>$copy</td>$source</tr>",
            when=_when_ts(c["timestamp"]), status=c.get("status") if c.get("status") is not None else "—",
            kind=kind, role=c.get("role") or "", url=c["url"], copy=copy, source=source,
        ))
    return t('<table><thead><tr><th>Captured (UTC)</th><th class="num">Status</th><th>Role</th>'
             "<th>URL</th><th>Archived copy</th>$src</tr></thead><tbody>$trs</tbody></table>",
             src=Html('<th class="num">Source</th>') if with_source else "", trs=join(trs))


def snapshots_section(root: str, snapshots: Sequence[Mapping[str, Any]], *, total: int) -> Html:
    """Capture runs, newest first (the newest open), with their captures where given."""
    if not snapshots:
        return Html('<p class="muted">No snapshots.</p>')
    parts = []
    for i, snap in enumerate(snapshots):
        caps = snap.get("captures")
        if caps is None:
            listing = t('<p class="muted">Captures: see <a href="$h">the snapshot\'s JSON</a>.</p>',
                        h=f"{root}/api/snapshots/{snap['id']}")
        else:
            listing = captures_table(root, caps) if caps else Html('<p class="muted">No captures yet.</p>')
        parts.append(t(
            "<details$open><summary>Snapshot #$id · $state · $trigger · queued $queued · "
            "$done done, $failed failed, $bytes bytes</summary>$error$caps</details>",
            open=Html(" open") if i == 0 else "", id=snap["id"], state=_state(snap["state"]),
            trigger=snap.get("trigger") or "", queued=_when_iso(snap.get("queued_at")),
            done=snap.get("urls_done") or 0, failed=snap.get("urls_failed") or 0,
            bytes=f"{snap.get('bytes_written') or 0:,}",
            error=t('<div class="error">$e</div>', e=snap["error"]) if snap.get("error") else "",
            caps=listing,
        ))
    if total > len(snapshots):
        parts.append(t('<p class="muted">The newest $n of $total snapshots; every capture of a URL is in '
                       "its search page.</p>", n=len(snapshots), total=total))
    return join(parts)


def cited_table(root: str, citations: Sequence[Mapping[str, Any]]) -> Html:
    """The article and what it cites: health now, since when, the archived copy, and the copy to
    cite instead where the live link no longer shows what was cited."""
    if not citations:
        return Html('<p class="muted">No cited links found yet.</p>')
    trs = []
    for c in citations:
        arch = c.get("archived")
        copy = Html('<span class="muted">not archived</span>') if not arch else t(
            '<a href="$h">$when</a>', h=replay_href(root, arch["timestamp"], arch["url"]),
            when=_when_ts(arch["timestamp"]))
        instead = t('<a href="$u">cite instead</a><br><code>$u</code>', u=c["cite_instead"]) \
            if c.get("cite_instead") else ""
        detail = " · ".join(str(x) for x in (c.get("status"), c.get("detail")) if x not in (None, ""))
        trs.append(t(
            '<tr><td class="url">$link$text</td><td>$role</td><td>$health$detail</td><td>$since</td>'
            "<td>$copy</td><td>$instead</td></tr>",
            link=_live(c["url"]),
            text=t('<br><span class="muted">“$x”</span>', x=c["text"]) if c.get("text") else "",
            role=c.get("role") or "", health=_health(c.get("outcome")),
            detail=t('<br><span class="muted">$d</span>', d=detail) if detail else "",
            since=_when_iso(c.get("since")) if c.get("since") else "—", copy=copy, instead=instead,
        ))
    return t("<table><thead><tr><th>URL</th><th>Role</th><th>Health</th><th>Since (UTC)</th>"
             "<th>Archived copy</th><th>Cite instead</th></tr></thead><tbody>$trs</tbody></table>",
             trs=join(trs))


def citations_section(root: str, source_id: int, formats: Sequence[tuple[str, str, str]]) -> Html:
    """Ready-to-paste citation text in each (label, format, text)."""
    blocks = join(
        t('<h3>$label</h3><pre><code>$text</code></pre>', label=label, text=text)
        for label, _, text in formats
    )
    return t('$blocks<p>Also as <a href="$text">plain text</a> · <a href="$json">JSON</a></p>',
             blocks=blocks, text=f"{root}/api/sources/{source_id}/cite?format=text",
             json=f"{root}/api/sources/{source_id}/cite?format=json")
