"""The plots of a benchmark run: one PNG per section (results-<section>.png, linked from its section
of RESULTS.md) and results.png, every panel on one page. Each panel draws one section's numbers
with its target as a red line, so a glance says which side of the target it is on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SECTIONS", "write_overview", "write_section_plots"]

Panel = Callable[[Any, dict[str, Any]], None]


def _latency(ax: Any, res: dict[str, Any]) -> None:
    lat = res["latency"]
    names = ["citevault", "wget"]
    med = [lat[n]["wall"].median for n in names]
    ax.barh(names, med, color=["tab:blue", "tab:gray"])
    if fl := lat.get("floor"):
        ax.axvline(fl["floor"], color="black", linewidth=0.8, linestyle="--", label="network floor")
        ax.axvline(1.5 * fl["floor"], color="red", linewidth=0.8, label="target: 1.5x floor")
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xscale("log")
    ax.set_xlabel("wall s (log)")
    ax.set_title(f"(1) latency-bound farm: wall s, {lat['spec'].pages} pages")


def _cpu(ax: Any, res: dict[str, Any]) -> None:
    cpu = res["cpu"]
    names = ["citevault", "scrapy"]
    for k, (key, off) in enumerate((("total", -0.2), ("marginal", 0.2))):
        vals = [cpu[n][key].median * 1000 for n in names]
        ax.bar([i + off for i in range(2)], vals, width=0.4, label=key, color=["tab:blue", "tab:cyan"][k])
    ax.axhline(1.5 * cpu["scrapy"]["marginal"].median * 1000, color="red", linewidth=0.8,
               label="target: 1.5x Scrapy (marginal)")
    ax.set_xticks([0, 1], names)
    ax.legend(fontsize=7)
    ax.set_title("(2) CPU ms per archived page")


def _index(ax: Any, res: dict[str, Any]) -> None:
    idx = res["index"]
    for side, backend, style in (("citevault", "sqlite", "-"), ("citevault", "postgresql", ":"),
                                 ("pywb", "sqlite", "--")):
        rows = [r for r in idx.get("rows", []) if r.get("backend", "sqlite") == backend]
        for kind, color in (("exact", "tab:blue"), ("prefix", "tab:orange"), ("closest", "tab:green")):
            if rows and f"{side}_{kind}" in rows[0]:
                ax.plot([r["captures"] for r in rows], [r[f"{side}_{kind}"]["p50"] for r in rows], style,
                        color=color, marker="o",
                        label=f"{side} {kind}" + (f" ({backend})" if side == "citevault" else ""))
    ax.set_xscale("log")
    ax.axhline(3, color="red", linewidth=0.8)
    ax.legend(fontsize=6)
    ax.set_xlabel("captures")
    ax.set_title("(3) /cdx p50 ms vs captures (red: 3 ms)")


def _replay(ax: Any, res: dict[str, Any]) -> None:
    rep = res["replay"]
    labels, vals, colors = [], [], []
    for side in ("citevault", "pywb"):
        for kind in ("raw", "rewritten"):
            if f"{side}_{kind}" in rep:
                labels.append(f"{side}\n{kind}")
                vals.append(rep[f"{side}_{kind}"]["p50"])
                colors.append("tab:purple" if side == "citevault" else "tab:gray")
    ax.bar(labels, vals, color=colors)
    ax.axhline(10, color="red", linewidth=0.8)
    ax.set_title("(4) replay 100 KB, p50 ms (red: 10 ms)")


def _storage(ax: Any, res: dict[str, Any]) -> None:
    st = res["storage"]
    ax.bar(["first capture", "unchanged recapture"], [st["first_warc"] / 1e6, st["added_warc"] / 1e6],
           color=["tab:blue", "tab:olive"])
    ax.axhline(0.05 * st["first_warc"] / 1e6, color="red", linewidth=0.8, label="target: 5%")
    ax.legend(fontsize=7)
    ax.set_title("(5) WARC MB written")


def _memory(ax: Any, res: dict[str, Any]) -> None:
    mem = res["memory"]
    rows = mem.get("rows", [])
    # Every point at the URLs its crawl archived: the page of a million links is a crawl of its
    # first 10,000 links (the default limit), so it sits beside the 10,000-URL hub, not at 10^6.
    xs = [r["archived"] for r in rows]
    ax.plot(xs, [r["child_peak_mb"] for r in rows], marker="o", color="tab:blue",
            label="hub of N links: crawl process")
    ax.plot(xs, [r.get("tree_pss_mb") or r["tree_peak_mb"] for r in rows], marker="s", color="tab:orange",
            label="hub of N links: whole tree (PSS)")
    if page := mem.get("page"):
        what = f"one page of {page['links']:,} links"
        ax.plot([page["archived"]], [page["child_peak_mb"]], "^", color="tab:blue", fillstyle="none",
                markersize=9, label=f"{what}: crawl process")
        ax.plot([page["archived"]], [page.get("tree_pss_mb") or page["tree_peak_mb"]], "^",
                color="tab:orange", fillstyle="none", markersize=9, label=f"{what}: whole tree (PSS)")
    ax.axhline(300, color="red", linewidth=0.8, label="target: 300 MB")
    ax.set_xscale("log")
    ax.legend(loc="best", fontsize=7)
    ax.set_xlabel("URLs archived")
    ax.set_title("(6) peak memory MB vs URLs archived")


def _browser(ax: Any, res: dict[str, Any]) -> None:
    rows = res["browser"]["rows"]
    names = [r["name"].replace(", ", "\n").replace(" (", "\n(") for r in rows]
    ax.bar(names, [r["pages_per_min"] for r in rows], color=["tab:red", "tab:blue", "tab:cyan"][:len(rows)])
    ax.set_ylabel("pages/min")
    twin = ax.twinx()
    twin.plot(names, [r["tree_peak_pss_mb"] for r in rows], "ko", label="tree PSS MB")
    twin.set_ylabel("tree peak PSS MB")
    twin.set_ylim(bottom=0)
    twin.legend(fontsize=7, loc="upper right")
    ax.set_title("browser capture: pages/min and memory")


def _extraction(ax: Any, res: dict[str, Any]) -> None:
    tp = res["extraction"]["throughput"]
    on, off = tp["indexing on pages/s"], tp["indexing off pages/s"]
    ax.bar(["page indexing off", "page indexing on"], [off, on], color=["tab:gray", "tab:blue"])
    ax.axhline(0.9 * off, color="red", linewidth=0.8, label="target: at most 10% lower")
    ax.legend(fontsize=7)
    ax.set_ylabel("pages/s")
    ax.set_title("capture throughput with extraction on vs off")


def _search(ax: Any, res: dict[str, Any]) -> None:
    s = res["search"]
    labels, p50, p99 = [], [], []
    for engine in ("sqlite", "postgresql"):
        e = s.get(engine) or {}
        if "in_process" not in e:
            continue
        labels.append(f"{engine}\nin-process")
        p50.append(e["in_process"]["all"]["p50_ms"])
        p99.append(e["in_process"]["all"]["p99_ms"])
        if (http := e.get("http")) and "server" in http:
            labels.append(f"{engine}\nHTTP")
            p50.append(http["server"]["p50_ms"])
            p99.append(http["server"]["p99_ms"])
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50", color="tab:blue")
    ax.bar([x + 0.2 for x in xs], p99, width=0.4, label="p99", color="tab:orange")
    ax.set_xticks(list(xs), labels)
    ax.axhline(10, color="red", linewidth=0.8, label="p50 10 ms")
    ax.axhline(50, color="darkred", linewidth=0.8, linestyle="--", label="p99 50 ms")
    ax.legend(fontsize=7)
    ax.set_title(f"search at {s['pages']:,} pages, ms")


SECTIONS: dict[str, Panel] = {
    "latency": _latency, "cpu": _cpu, "index": _index, "replay": _replay, "storage": _storage,
    "memory": _memory, "browser": _browser, "extraction": _extraction, "search": _search,
}


def _ran(res: dict[str, Any]) -> list[str]:
    ok = {"index": lambda d: bool(d.get("rows")), "replay": lambda d: "citevault_raw" in d,
          "memory": lambda d: bool(d.get("rows") or d.get("page")),
          "extraction": lambda d: "throughput" in d,
          "search": lambda d: any("in_process" in (d.get(e) or {}) for e in ("sqlite", "postgresql"))}
    return [name for name in SECTIONS if res.get(name) and ok.get(name, bool)(res[name])]


def write_section_plots(res: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """results-<section>.png for every section that ran: section -> file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = {}
    for name in _ran(res):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        SECTIONS[name](ax, res)
        fig.tight_layout()
        path = out_dir / f"results-{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written[name] = path.name
    return written


def write_overview(res: dict[str, Any], path: Path) -> None:
    """Every section's panel on one page, "not run" where a section did not run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(16, 12.5))
    ran = set(_ran(res))
    for ax, (name, panel) in zip((a for row in axes for a in row), SECTIONS.items(), strict=True):
        if name in ran:
            panel(ax, res)
        else:
            ax.text(0.5, 0.5, f"{name}: not run", ha="center", va="center", transform=ax.transAxes,
                    color="gray")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"citevault benchmarks, {res['meta']['started']} UTC ({res['meta']['mode']})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
