"""`citevault search`: full-text search over the archived pages, with highlighted snippets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .base import JsonOpt, print_json, settings

if TYPE_CHECKING:
    from rich.console import Console

    from citevault.storage.search import SearchHit

# The command imports what it runs: `--help` imports this module too (cli/base.py says why).

__all__ = ["commands", "search_command"]


def commands() -> typer.Typer:
    app = typer.Typer()
    app.command("search")(search_command)
    return app


def _show(out: Console, n: int, hit: SearchHit, replay: str) -> None:
    from rich.text import Text

    ts = hit.timestamp
    when = f"{ts[:4]}-{ts[4:6]}-{ts[6:8]} {ts[8:10]}:{ts[10:12]}"
    out.print(Text(f"{n}. {hit.title or hit.url}", style="bold"))
    out.print(Text(f"   {hit.url}"))
    status = f" · HTTP {hit.status}" if hit.status and hit.status >= 400 else ""
    out.print(Text(f"   {when} UTC · {hit.role}{status} · {replay}", style="dim"))
    snippet = Text("   " + hit.snippet)
    for start, end in hit.highlights:
        snippet.stylize("bold yellow", start + 3, end + 3)
    out.print(snippet)


def search_command(
    query: Annotated[str, typer.Argument(help='Words to find (all must occur); "quoted phrase".')],
    url: Annotated[str | None, typer.Option("--url", help="Only pages under this URL prefix, or on this "
                                            "host and its subdomains (e.g. epa.gov).")] = None,
    since: Annotated[str | None, typer.Option("--from", help="Captured at or after this time "
                                              "(YYYY[MM[DD[hh[mm[ss]]]]]).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Captured at or before this time.")] = None,
    role: Annotated[str | None, typer.Option("--role", help="Only seed (cited articles) or cited "
                                             "(the sources they cite) pages.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most results shown (1-1000).")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Full-text search over the archived pages' text, titles and URLs, best match first, with
    the matched words highlighted and the replay URL of each archived copy."""
    from rich.console import Console

    from citevault.storage.search import SearchQuery, search

    from ..archive import Archive
    from ..memento import replay_url

    cfg = settings()
    q = SearchQuery(q=query, url=url, since=since, until=until, role=role, limit=limit)
    with Archive(cfg) as archive, archive.index.session() as s:
        hits = search(s, q)
    base = cfg.base_url
    if json_out:
        print_json({"query": query, "results": [
            {**h.as_json(), "replay_url": replay_url(base, h.timestamp, h.url)} for h in hits
        ]})
        return
    out = Console(highlight=False)
    if not hits:
        out.print("no archived page matches")
        return
    for n, hit in enumerate(hits, 1):
        _show(out, n, hit, replay_url(base, hit.timestamp, hit.url))
