"""Large sites: metadata a visitor fetches, build and one-page rebuild, at 1,000 to 100,000 pages.

Generates sites of small HTML pages (each loads a shared style sheet and script and its
section's figure; sections of 100 pages), builds each with ``planktos build --inject`` (empty
hash cache), builds again with nothing changed, changes one page and builds once more, and
reports the manifest's top level and tables (raw and gzipped) and the metadata a visitor
fetches: before its first file (top level and the tables that list the first page and what it
loads) and for three pages (the home page and two pages in other sections).

The visitor part is computed from the build output (the walk the service worker does,
``js/sw/tables.js``, counting each table once, gzipped at level 6 as a server would send it),
as if the worker already controlled the first page; with ``--browser`` it is also measured:
one Chromium visitor (a first visit: its first page comes before the worker) opens the same
three pages through ``planktos serve``, and the access log says what metadata it fetched (the
top level revalidated per navigation: a 304 when the build did not change).

``python bench/scale_bench.py [--quick] [--browser] [--out DIR]``; ``--quick`` runs 200 and
1,000 pages; ``--browser`` needs Chromium and a network namespace (``scripts/in-netns``).
Writes ``scale.json``, ``scale.md`` and ``scale.png``.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SECTION = 100


def page(i: int, pages: int) -> str:
    sections = max(1, pages // SECTION)
    links = "".join(
        f'<li><a href="../s{((i + k) // SECTION) % sections:04d}/p{(i + k) % pages:06d}.html">'
        f"page {(i + k) % pages}</a></li>"
        for k in (1, 7, 101)
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>Page {i}</title>'
        '<link rel="stylesheet" href="../assets/site.css">'
        '<script src="../assets/site.js" defer></script></head>'
        f'<body><h1>Page {i}</h1><img src="figure.svg" alt="">'
        f"<p>Page {i} of section {i // SECTION}. {'Lorem ipsum dolor sit amet. ' * 30}</p>"
        f"<ul>{links}</ul></body></html>\n"
    )


def generate(root: Path, pages: int) -> None:
    """``index.html``, ``assets/site.{css,js}``, ``sNNNN/pNNNNNN.html`` and ``sNNNN/figure.svg``."""
    (root / "assets").mkdir(parents=True)
    (root / "assets/site.css").write_text("body{font:16px sans-serif;max-width:40em}\n" * 20)
    (root / "assets/site.js").write_text("document.documentElement.dataset.ready='1';\n" * 20)
    for i in range(pages):
        section = root / f"s{i // SECTION:04d}"
        if i % SECTION == 0:
            section.mkdir()
            svg = '<svg xmlns="http://www.w3.org/2000/svg"><text y="20">{}</text></svg>\n'
            svg = svg.format(i // SECTION)
            (section / "figure.svg").write_text(svg)
        (section / f"p{i:06d}.html").write_text(page(i, pages))
    (root / "index.html").write_text(
        '<!doctype html><html><head><link rel="stylesheet" href="assets/site.css">'
        '<script src="assets/site.js" defer></script></head>'
        '<body><a href="s0000/p000000.html">start</a></body></html>\n'
    )


def build(root: Path, cache: Path) -> tuple[float, float]:
    """One ``planktos build --inject``; returns its wall time and CPU time (user + system,
    all threads: what it costs on a machine shared with other work)."""
    cmd = [sys.executable, "-m", "planktos", "build", "--quiet", "--inject", "--root", str(root)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=dict(os.environ, PLANKTOS_CACHE_DIR=str(cache)))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 6))


def visit(root: Path, pages: list[str]) -> list[dict[str, int]]:
    """Metadata fetched after each page: top level plus the tables its files' lookups read."""
    top_bytes = (root / "planktos/manifest.json").read_bytes()
    top = json.loads(top_bytes)
    fetched: dict[str, bytes] = {}

    def lookup(key: str) -> None:
        node = top["index"]
        while "tables" in node:
            i = bisect.bisect_right([c[0] for c in node["tables"]], key) - 1
            if i < 0:
                raise KeyError(key)
            sha = node["tables"][i][1]
            fetched.setdefault(sha, (root / "planktos/i" / f"{sha}.json").read_bytes())
            node = json.loads(fetched[sha])
        if key not in node["files"]:
            raise KeyError(key)

    out = []
    for key in pages:
        section = key.rpartition("/")[0]
        for needed in (key, "assets/site.css", "assets/site.js"):
            lookup(needed)
        if section:
            lookup(f"{section}/figure.svg")
        data = list(fetched.values())
        out.append(
            {
                "tables": len(data),
                "raw": len(top_bytes) + sum(len(d) for d in data),
                "gzip": gz(top_bytes) + sum(gz(d) for d in data),
            }
        )
    return out


def browser_visit(root: Path, pages: list[str]) -> list[dict[str, int]]:
    """Metadata one Chromium visitor fetched after each page, from the access log."""
    import asyncio

    sys.path.insert(0, str(HERE.parent))
    from playwright.async_api import async_playwright
    from tests.browser.browsers import launch
    from tests.servers import planktos_serve

    from planktos.server.accesslog import parse_clf_line

    log = root.parent / f"{root.name}.log"

    async def visit_all(url: str) -> list[int]:
        marks = []
        async with async_playwright() as pw:
            browser = await launch(pw)
            page = await (await browser.new_context()).new_page()
            for i, key in enumerate(pages):
                await page.goto(url + key.removesuffix("index.html"))
                if i == 0:
                    controlled = "navigator.serviceWorker.controller !== null"
                    await page.wait_for_function(controlled, timeout=30_000)
                await page.wait_for_load_state("load")
                await asyncio.sleep(2)  # the agent's own requests, if any
                marks.append(len(log.read_text().splitlines()))
            await browser.close()
        return marks

    with planktos_serve(root, "--access-log", str(log)) as served:
        marks = asyncio.run(visit_all(served.url))
    entries = [parse_clf_line(line) for line in log.read_text().splitlines()]
    out = []
    for mark in marks:
        got = [
            e
            for e in entries[:mark]
            if e and e.path.startswith(("/planktos/manifest.json", "/planktos/i/"))
        ]
        sent = [e for e in got if e.body_bytes]
        gzipped = sum(gz((root / e.path.lstrip("/")).read_bytes()) for e in sent)
        raw = sum(e.body_bytes for e in got)
        out.append({"requests": len(got), "not_modified": len(got) - len(sent), "raw": raw})
        out[-1]["gzip"] = gzipped
    return out


def measure(pages: int, work: Path, browser: bool = False) -> dict[str, Any]:
    root = work / f"site-{pages}"
    cache = work / f"cache-{pages}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    generate(root, pages)
    first, first_cpu = build(root, cache)
    top = (root / "planktos/manifest.json").read_bytes()
    refs = json.loads(top)["refs"]
    tree = [p.read_bytes() for p in (root / "planktos/i").iterdir() if p.stem != refs]
    home = ["index.html", f"s{(pages // 2) // SECTION:04d}/p{pages // 2:06d}.html"]
    home.append(f"s{(pages - 1) // SECTION:04d}/p{pages - 1:06d}.html")
    visited = visit(root, home)
    in_browser = browser_visit(root, home) if browser else None
    # Nothing changed, then one page: the second build is the first to find the pages the
    # first one injected (written then) loading the script; after that they cost no read.
    unchanged, unchanged_cpu = build(root, cache)
    changed = root / f"s{(pages // 3) // SECTION:04d}/p{pages // 3:06d}.html"
    changed.write_text(changed.read_text().replace("Lorem", "Changed", 1))
    rebuild, rebuild_cpu = build(root, cache)
    gz_tables = sorted(gz(t) for t in tree) or [0]
    result = {
        "pages": pages,
        "files": sum(
            1
            for p in root.rglob("*")
            if p.is_file() and "planktos" not in p.parts and not p.name.startswith("planktos.sw.js")
        ),
        "build_s": round(first, 2),
        "rebuild_one_page_s": round(rebuild, 2),
        "rebuild_unchanged_s": round(unchanged, 2),
        "build_cpu_s": round(first_cpu, 2),
        "rebuild_one_page_cpu_s": round(rebuild_cpu, 2),
        "rebuild_unchanged_cpu_s": round(unchanged_cpu, 2),
        "top_raw": len(top),
        "top_gzip": gz(top),
        "tables": len(tree),
        "tables_raw_total": sum(len(t) for t in tree),
        "table_gzip_median": gz_tables[len(gz_tables) // 2],
        "table_gzip_max": gz_tables[-1],
        "first_page": visited[0],
        "three_pages": visited[2],
        "visited": home,
    }
    if in_browser is not None:
        result["browser"] = in_browser
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    return result


def kb(n: int) -> str:
    return f"{n / 1000:.1f} KB"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Scale: metadata a visitor fetches, and rebuilds, against the site's size",
        "",
        "Generated sites of small HTML pages (`bench/scale_bench.py`): build with `--inject` and "
        "an empty hash cache, then again with nothing changed, then with one page changed. "
        "Visitor metadata here is computed from the build output (the service worker's table "
        "walk, gzip level 6) as if the worker controlled the first page: the home page (and its "
        "style sheet and script); three pages add two pages of other sections (and their "
        "figures). Build times are wall clock (CPU seconds, all threads, in parentheses).",
        "",
        "| pages | top level (gzip) | tables (median / max gzip) | before the first file "
        "| three pages | build | nothing changed | one page changed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["sizes"]:
        first, three = r["first_page"], r["three_pages"]
        lines.append(
            f"| {r['pages']:,} | {kb(r['top_raw'])} ({kb(r['top_gzip'])}) "
            f"| {r['tables']:,}, {kb(r['tables_raw_total'])} "
            f"({kb(r['table_gzip_median'])} / {kb(r['table_gzip_max'])}) "
            f"| {kb(first['gzip'])} ({first['tables']} tables) "
            f"| {kb(three['gzip'])} ({three['tables']} tables) "
            f"| {r['build_s']:.2f} s ({r['build_cpu_s']:.2f}) "
            f"| {r['rebuild_unchanged_s']:.2f} s ({r['rebuild_unchanged_cpu_s']:.2f}) "
            f"| {r['rebuild_one_page_s']:.2f} s ({r['rebuild_one_page_cpu_s']:.2f}) |"
        )
    measured = [r for r in result["sizes"] if "browser" in r]
    if measured:
        lines += [
            "",
            "Measured: one Chromium visitor, first visit (its first page comes from the origin "
            "before the worker controls it), the same three pages through `planktos serve`; "
            "metadata requests from the access log (gzip level 6 of what was sent; 304s cost "
            "no body):",
            "",
            "| pages | after the first page | after two | after three |",
            "| --- | --- | --- | --- |",
        ]
        for r in measured:
            cells = [
                f"{kb(b['gzip'])} ({b['requests']} requests, {b['not_modified']} not modified)"
                for b in r["browser"]
            ]
            lines.append(f"| {r['pages']:,} | " + " | ".join(cells) + " |")
    lines += ["", f"Machine: {result['machine']}."]
    if "load_average" in result:
        load = ", ".join(f"{x:.1f}" for x in result["load_average"])
        lines += [
            f"Load average at the end of the run: {load} (wall times grow with the machine's "
            "other work; CPU seconds much less)."
        ]
    lines.append("")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["sizes"]
    x = [r["pages"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(x, [r["first_page"]["gzip"] / 1000 for r in rows], "o-", label="first page")
    left.plot(x, [r["three_pages"]["gzip"] / 1000 for r in rows], "s-", label="three pages")
    left.plot(x, [r["top_gzip"] / 1000 for r in rows], "^-", label="top level")
    left.axhline(20, color="grey", linestyle=":", label="target: 20 KB before the first file")
    left.set_xscale("log")
    left.set_xlabel("pages")
    left.set_ylabel("KB gzipped")
    left.set_title("metadata a visitor fetches", fontsize=9)
    left.legend(fontsize=7)
    right.plot(x, [r["build_s"] for r in rows], "o-", label="build")
    right.plot(x, [r["rebuild_one_page_s"] for r in rows], "s-", label="one page changed")
    right.plot(x, [r["rebuild_unchanged_s"] for r in rows], "^-", label="nothing changed")
    right.axhline(1, color="grey", linestyle=":", label="target: 1 s rebuild")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("pages")
    right.set_ylabel("seconds")
    right.set_title("planktos build --inject", fontsize=9)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 pages only")
    parser.add_argument("--sizes", help="page counts, comma-separated")
    parser.add_argument("--browser", action="store_true", help="also measure with Chromium")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = [200, 1000] if args.quick else [1000, 10_000, 100_000]
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="planktos-scale-") as tmp:
        rows = []
        for pages in sizes:
            rows.append(measure(pages, Path(tmp), args.browser))
            print(json.dumps(rows[-1]), flush=True)
    result = {"machine": describe(machine_info()), "sizes": rows, "load_average": os.getloadavg()}
    (args.out / "scale.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "scale.md").write_text(markdown(result))
    plot(result, args.out / "scale.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
