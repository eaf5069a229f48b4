"""Citation styles that use what an archived page says about itself (author, date, site): Markdown,
plain text, BibTeX @online and Wikipedia's {{cite web}}. A tweet is cited as "Author (@handle):
text". A copy that is not usable (an error page) is never presented as the source: no byline, no
archive link, the reason instead."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from citevault.storage.pages import PageInfo

    from .citations import Citation

__all__ = ["FORMATS", "bibtex", "byline", "markdown", "text", "tweet_title", "wikipedia"]

# Every format citations.render writes: Robust Links HTML (citations.py) and this module's. Here,
# not in citations.py: `citevault cite --help` lists them, and `citevault --help` imports neither
# lxml nor SQLAlchemy (cli/base.py), which citations.py does.
FORMATS = ("robust-html", "markdown", "text", "bibtex", "wikipedia")


def _site(c: Citation) -> str | None:
    """The site's name; a bare host name (what extractors fall back to) adds nothing to the URL."""
    page = c.page
    if page is None or not page.site:
        return None
    host = (urlsplit(c.url).hostname or "").removeprefix("www.")
    return None if page.site.lower().removeprefix("www.") == host else page.site


def tweet_title(page: PageInfo | None) -> str | None:
    """"Author (@handle): text" of a tweet's metadata, else None."""
    if page is None or page.kind != "tweet" or not page.text:
        return None
    who = ", ".join(page.authors) or "Unknown"
    return f"{who} (@{page.handle}): {page.text}" if page.handle else f"{who}: {page.text}"


def byline(c: Citation) -> tuple[str | None, str, str | None, str | None]:
    """(authors, title, site, date) to cite `c` by; only title when there is no usable metadata."""
    if c.page is None or c.copy is None or not c.copy.usable:
        return None, c.title, None, None
    tweet = tweet_title(c.page)
    if tweet is not None:
        return None, tweet, None, c.page.published
    authors = ", ".join(c.page.authors) or None
    return authors, c.title, _site(c), c.page.published


def _md_text(value: str) -> str:
    return re.sub(r"([\\\[\]*_`<>])", r"\\\1", value)


def _md_url(url: str) -> str:
    return f"<{url}>" if re.search(r"[\s()<>]", url) else url


def markdown(c: Citation) -> str:
    """`Author, "[Title](url)", Site, Date ([archived D](replay))`; parts it lacks are left out."""
    authors, title, site, date = byline(c)
    link = f"[{_md_text(title)}]({_md_url(c.url)})"
    if authors or site:
        link = f'"{link}"'
    parts = [_md_text(authors)] if authors else []
    line = ", ".join(parts + [link] + [_md_text(p) for p in (site, date) if p])
    if c.copy is not None and c.copy.usable:
        return f"{line} ([archived {c.copy.date}]({_md_url(c.copy.replay_url)}))"
    return f"{line} ({_md_text(c.reason or 'not archived')})"


def text(c: Citation) -> str:
    """`Author, "Title", Site, Date. URL. Archived D at replay`."""
    authors, title, site, date = byline(c)
    head = f'"{title}"' if authors or site else title
    line = ", ".join([p for p in (authors,) if p] + [head] + [p for p in (site, date) if p])
    if c.copy is not None and c.copy.usable:
        return f"{line}. {c.url}. Archived {c.copy.date} at {c.copy.replay_url}"
    return f"{line}. {c.url}. ({c.reason or 'not archived'})"


_BIB_SPECIAL = re.compile(r"([\\{}%&$#_~^])")
_BIB_REPL = {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _bib(value: str) -> str:
    return _BIB_SPECIAL.sub(lambda m: _BIB_REPL.get(m.group(1), "\\" + m.group(1)), value)


def _bib_url(url: str) -> str:
    # Inside \url{} in another command's argument, hyperref wants % and # escaped.
    return url.replace("%", r"\%").replace("#", r"\#").replace("{", "%7B").replace("}", "%7D")


def bibtex(c: Citation, key: str) -> str:
    """A biblatex @online entry: author, title, date, organization (the site), url, urldate."""
    _, title, site, date = byline(c)
    page = c.page if c.copy is not None and c.copy.usable else None
    fields = []
    if page is not None and page.authors:
        fields.append(("author", " and ".join("{" + _bib(a) + "}" for a in page.authors)))
    fields.append(("title", "{" + _bib(title) + "}"))
    if date:
        fields.append(("date", date))
    if site:
        fields.append(("organization", _bib(site)))
    elif page is not None and page.kind == "tweet" and page.site:
        fields.append(("organization", _bib(page.site)))
    fields.append(("url", c.url.replace("{", "%7B").replace("}", "%7D")))
    copy = c.copy
    if copy is not None and copy.usable:
        fields += [("urldate", copy.date), ("howpublished", r"\url{" + _bib_url(copy.replay_url) + "}")]
        note = f"Archived copy captured {copy.datetime}"
        if copy.url != c.url:
            note += f" (redirected to {copy.url})"
        fields.append(("note", _bib(note)))
    elif copy is not None:
        fields.append(("note", _bib(f"{c.reason}; the archived error page is not cited")))
    else:
        fields.append(("note", _bib(c.reason or "not archived")))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@online{{{key},\n{body}\n}}"


def _wiki(value: str) -> str:
    """A template parameter value: pipes and braces would end the template or the parameter."""
    value = " ".join(value.split())
    # Every brace, not only doubled ones: a value ending in "}" before the template's "}}" would
    # read as "}}}", a parameter's end.
    return value.replace("{", "&#123;").replace("}", "&#125;").replace("|", "{{!}}")


def _wiki_url(url: str) -> str:
    return url.replace(" ", "%20").replace("|", "%7C").replace("{", "%7B").replace("}", "%7D")


def wikipedia(c: Citation) -> str:
    """{{cite web}} with archive-url, archive-date and url-status; an unusable copy is left out and
    the reason given in a comment."""
    authors, title, site, date = byline(c)
    params = [("url", c.url), ("title", title)]
    if authors:
        params.append(("author", authors))
    if date:
        params.append(("date", date))
    page = c.page if c.copy is not None and c.copy.usable else None
    if site or (page is not None and page.kind == "tweet" and page.site):
        params.append(("website", site or (page.site if page is not None else "") or ""))
    if page is not None and page.language and not page.language.startswith("en"):
        params.append(("language", page.language))
    copy = c.copy
    if copy is not None and copy.usable:
        params += [("archive-url", copy.replay_url), ("archive-date", copy.date), ("url-status", "live")]
    escaped = [(k, _wiki_url(v) if k in ("url", "archive-url") else _wiki(v)) for k, v in params if v]
    out = "{{cite web " + " ".join(f"|{k}={v}" for k, v in escaped) + "}}"
    if copy is None or not copy.usable:
        out += f" <!-- {(c.reason or 'not archived').replace('--', '- -')} -->"
    return out
