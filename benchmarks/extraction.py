"""Main text and cited links of real articles: citevault's own `links.main_text` / link
classification against trafilatura's, on the 31 English news articles of the shared corpus.

Ground truth: trafilatura's evaluation data (adbar/trafilatura, tests/evaldata.py) gives for
each article snippets that belong to the article ("with") and boilerplate that does not
("without"). It is not copied here: pass its path. A link is labelled cited when the block
around it (its paragraph, list item, quote, heading or cell) holds a "with" snippet, and not
cited when that block or its anchor text holds a "without" snippet; other links are not scored.

    .venv/bin/python -m benchmarks.extraction --evaldata PATH/evaldata.py \
        --warc /work/shared/corpus/trafilatura-news-en.warc.gz
"""

from __future__ import annotations

import argparse
import json
import runpy
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

_BLOCKS = {"p", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "td", "dd", "dt", "figcaption"}


def _join(base: str, href: str) -> str:
    try:
        return urljoin(base, href).split("#")[0]
    except ValueError:  # unparseable hrefs ("https://[ccpa-preferences]") are nobody's citation
        return ""


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _load(warc: Path, tsv: Path, evaldata: Path) -> list[tuple[str, bytes, dict[str, Any]]]:
    from warcio.archiveiterator import ArchiveIterator

    pages = runpy.run_path(str(evaldata))["EVAL_PAGES"]
    by_file = {v["file"]: v for v in pages.values()}
    rows = [line.rstrip("\n").split("\t") for line in tsv.read_text().splitlines()[1:]]
    source = {r[5]: r[6].rsplit("/", 1)[-1] for r in rows}
    out = []
    with open(warc, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type != "response":
                continue
            url = rec.rec_headers.get_header("WARC-Target-URI")
            truth = by_file.get(source.get(url, ""))
            if truth is not None:
                out.append((url, rec.content_stream().read(), truth))
    return out


def _labels(html: bytes, url: str, truth: dict[str, Any]) -> dict[str, bool]:
    """URL -> whether it is cited, for the links the snippets decide."""
    import lxml.html

    doc = lxml.html.document_fromstring(html)
    with_ = [_norm(s) for s in truth.get("with", [])]
    without = [_norm(s) for s in truth.get("without", [])]
    out: dict[str, bool] = {}
    for a in doc.iter("a"):
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        target = _join(url, href)
        block = next((e for e in a.iterancestors() if e.tag in _BLOCKS), None)
        around = _norm(block.text_content()) if block is not None else ""
        anchor = _norm(a.text_content())
        if any(s and s in around for s in with_):
            out.setdefault(target, True)
        elif any(s and (s in around or s in anchor) for s in without):
            out[target] = False
    return out


def _trafilatura_text(html: bytes, url: str, **kw: Any) -> str:
    import trafilatura

    return trafilatura.extract(html, url=url, include_comments=False, include_tables=True, **kw) or ""


def _trafilatura_links(html: bytes, url: str, **kw: Any) -> set[str]:
    import lxml.etree
    import trafilatura

    xml = trafilatura.extract(html, url=url, output_format="xml", include_links=True,
                              include_comments=False, include_tables=True, **kw)
    if not xml:
        return set()
    root = lxml.etree.fromstring(xml.encode())
    return {_join(url, r.get("target") or "") for r in root.iter("ref") if r.get("target")}


def _current_links(html: bytes, url: str) -> set[str]:
    from citevault.crawler.links import extract_page_links

    return {u for u, _ in extract_page_links(html, url).cited}


def _score_text(text: str, truth: dict[str, Any]) -> tuple[int, int, int, int]:
    t = _norm(text)
    with_ = [_norm(s) for s in truth.get("with", [])]
    without = [_norm(s) for s in truth.get("without", [])]
    return (sum(s in t for s in with_), len(with_), sum(s not in t for s in without), len(without))


def run(warc: Path, tsv: Path, evaldata: Path) -> dict[str, Any]:
    from citevault.crawler.links import main_text

    pages = _load(warc, tsv, evaldata)
    text_methods: dict[str, Callable[[bytes, str], str]] = {
        "links.main_text": main_text,
        "trafilatura": lambda h, u: _trafilatura_text(h, u),
        "trafilatura favor_recall": lambda h, u: _trafilatura_text(h, u, favor_recall=True),
    }
    texts: dict[str, Any] = {}
    for name, fn in text_methods.items():
        got = [0, 0, 0, 0]
        times = []
        for url, html, truth in pages:
            t0 = time.perf_counter()
            text = fn(html, url)
            times.append(time.perf_counter() - t0)
            got = [a + b for a, b in zip(got, _score_text(text, truth), strict=True)]
        texts[name] = {
            "with_found": f"{got[0]}/{got[1]}", "with_recall": round(got[0] / got[1], 3),
            "without_rejected": f"{got[2]}/{got[3]}", "without_rejection": round(got[2] / got[3], 3),
            "ms_per_page_median": round(1000 * statistics.median(times), 1),
        }
    link_methods: dict[str, Callable[[bytes, str], set[str]]] = {
        "links.extract_page_links": _current_links,
        "trafilatura": lambda h, u: _trafilatura_links(h, u),
        "trafilatura favor_recall": lambda h, u: _trafilatura_links(h, u, favor_recall=True),
    }
    links: dict[str, Any] = {}
    label_sets = [_labels(html, url, truth) for url, html, truth in pages]
    for name, lfn in link_methods.items():
        tp = fp = fn_ = tn = 0
        counts = []
        for (url, html, _), labels in zip(pages, label_sets, strict=True):
            cited = lfn(html, url)
            counts.append(len(cited))
            for target, is_cited in labels.items():
                hit = target in cited
                tp += hit and is_cited
                fp += hit and not is_cited
                fn_ += (not hit) and is_cited
                tn += (not hit) and not is_cited
        links[name] = {
            "labelled_cited": tp + fn_, "labelled_not_cited": fp + tn,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn_), 3) if tp + fn_ else None,
            "false_cited": fp, "missed": fn_,
            "cited_per_page_median": statistics.median(counts),
        }
    return {"pages": len(pages), "text": texts, "links": links}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaldata", type=Path, required=True, help="trafilatura's tests/evaldata.py")
    ap.add_argument("--warc", type=Path, default=Path("/work/shared/corpus/trafilatura-news-en.warc.gz"))
    ap.add_argument("--tsv", type=Path, default=None, help="default: the WARC's .urls.tsv beside it")
    args = ap.parse_args()
    tsv = args.tsv or args.warc.with_name(args.warc.name.replace(".warc.gz", ".urls.tsv"))
    print(json.dumps(run(args.warc, tsv, args.evaldata), indent=2))


if __name__ == "__main__":
    main()
