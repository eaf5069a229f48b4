"""The HTML citevault adds around archived copies: the banner above a replayed page and the
list of a URL's captures (`/web/*/URL`). Framework-free."""

from __future__ import annotations

import html
from http import HTTPStatus

from citevault.storage.index import timestamp_to_datetime

__all__ = ["banner_html", "captures_page"]


def _fmt_ts(ts: str) -> str:
    return timestamp_to_datetime(ts).strftime("%Y-%m-%d %H:%M:%S UTC")


def banner_html(prefix: str, url: str, ts: str, status: int | None = None) -> str:
    esc = html.escape
    answered = ""
    if status is not None and status >= 400:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        answered = (f'<br><span style="color:#8a1c1c">When this was captured, the server answered '
                    f"<strong>{status} {esc(phrase)}</strong>: this copy is that error page.</span>")
    return (
        '<div id="citevault-banner" style="all:initial;display:block;box-sizing:border-box;width:100%;'
        "padding:6px 12px;background:#fff8dc;border-bottom:1px solid #d8c27a;color:#222;"
        'font:13px/1.5 system-ui,sans-serif">'
        '<strong style="font-weight:bold">Archived copy</strong> of '
        f'<a style="color:#0645ad" href="{esc(url)}" rel="noreferrer">{esc(url)}</a>, '
        f"captured {_fmt_ts(ts)} by citevault. "
        f'<a style="color:#0645ad" href="{esc(prefix)}*/{esc(url)}">Other captures</a>{answered}</div>'
    )


# -- pages -----------------------------------------------------------------------------------------
def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "li{margin:.2em 0}code{word-break:break-all}</style></head><body>\n"
        f"{body}\n</body></html>\n"
    )


def _capture_list(prefix: str, items: list[tuple[str, str]]) -> str:
    lis = "".join(
        f'<li><a href="{html.escape(prefix)}{ts}/{html.escape(u)}">{_fmt_ts(ts)}</a> '
        f"<code>{html.escape(u)}</code></li>"
        for u, ts in items
    )
    return f"<ul>{lis}</ul>"


def captures_page(prefix: str, url: str, items: list[tuple[str, str]]) -> str:
    """Every capture of one URL, oldest first (`/web/*/URL`)."""
    body = (f"<h1>Captures of <code>{html.escape(url)}</code></h1>"
            f"<p>{len(items)} archived cop{'y' if len(items) == 1 else 'ies'}.</p>"
            + _capture_list(prefix, items))
    return _page(f"Captures of {url}", body)
