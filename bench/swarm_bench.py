"""Benchmark a swarm of real browsers: how much the origin sends, and how fast pages load.

N headless Chromium visitors (contexts of one browser, each its own profile) visit every page
of a site built with ``planktos build --inject`` and served by ``planktos serve`` (its
embedded tracker included): one after another, then all at once. Each visitor arrives on
the home page (loaded over plain HTTP: the service worker only controls what comes after;
those bytes are reported apart as the floor) and views every page in that same tab, as people
browse, waiting for images and video metadata; every page runs its own agent, and the tab
stays on the last page, whose agent seeds for the visitors who come next.

Reported, from the access log, the pages' responses and the runtime's counters:

- origin bytes for the site's files (own URLs and web seed) under the worker's control, as a
  multiple of one copy of what was viewed: the median, over the visitors who came one after
  another, of the bytes of the files their pages received (each byte once; of a video, the
  part the element read, bounded with the worker's ``served`` counter, which varies a
  little with timing: the minimum and maximum are in the JSON);
- per visitor, bytes downloaded (from the origin by the service worker, from the web seed
  and from peers by the agent) against bytes viewed, under the worker's control; also the
  byte ranges the pages asked for (``requested``: a streamed answer may be cut short);
- page-load times (navigation start to the end of ``load``) against the same site without
  Planktos (the unbuilt copy, served by ``planktos serve``): a repeat visit against plain
  HTTP with a warm browser cache, and a first visit with a warm swarm against a first visit
  over plain HTTP. Medians over pages and runs.

WebRTC between the browsers must stay on loopback: run it in a network namespace holding
only loopback, ``scripts/in-netns .venv/bin/python bench/swarm_bench.py``. ``--quick``: 2
visitors, a tiny generated site, one run (what tests/browser/test_swarm_bench.py runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import urlopen

from playwright.async_api import Browser, BrowserContext, Page, Response, async_playwright

from planktos import runtime
from planktos.manifest import read_full

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The Chromium launch recipe verified for loopback WebRTC (FACTS.md), shared with the tests.
from tests.browser.browsers import CHROMIUM, CHROMIUM_ARGS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEMO_SITE = HERE.parent / "examples" / "site"
WAIT_MS = 30_000
AGENT = "planktos/" + runtime.agent_name()  # content-hashed (docs/runtime.md)


# --- the servers --------------------------------------------------------------------------


@dataclass
class Server:
    """A ``planktos serve`` process and its access log."""

    url: str
    proc: subprocess.Popen[str]
    log: Path
    large: frozenset[str] = frozenset()  # URL paths of the manifest's chunked (large) files

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []

    def tracker_sizes(self) -> dict[str, int]:
        with urlopen(self.url + "planktos/stats", timeout=5) as resp:
            sizes: dict[str, int] = json.loads(resp.read())["tracker"]["peers_per_swarm"]
        return sizes


@contextmanager
def serve(root: Path, log: Path) -> Iterator[Server]:
    """``planktos serve ROOT`` on a free port with an access log, until the block ends."""
    cmd = [sys.executable, "-m", "planktos", "serve", str(root), "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, "--access-log", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    while True:
        line = proc.stdout.readline()
        seen.append(line)
        if not line:
            raise SystemExit("planktos serve exited:\n" + "".join(seen))
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        if match:
            break
    try:
        yield Server(match[1], proc, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def settled(server: Server, timeout: float = 10) -> list[str]:
    """The access log once it stops growing (a line is written after its response is sent)."""
    deadline = time.monotonic() + timeout
    before = None
    while True:
        server.tracker_sizes()  # a round trip: responses sent before it are logged by now
        now = [line for line in server.lines() if '"GET /planktos/stats ' not in line]
        if now == before or time.monotonic() > deadline:
            return now
        before = now


def origin_bytes(lines: Iterable[str]) -> dict[str, int]:
    """Body bytes by kind: the site's files at their URL, through the web seed, the runtime."""
    out = {"files": 0, "web_seed": 0, "runtime": 0}
    for line in lines:
        match = re.search(r'"GET (\S+) [^"]*" \d{3} (\d+|-)$', line)
        if not match:
            continue
        target, size = match[1], 0 if match[2] == "-" else int(match[2])
        path = urlsplit(target).path
        if path.startswith("/planktos/w/") or "planktos-webseed" in target:
            out["web_seed"] += size
        elif path == "/planktos.sw.js" or path.startswith("/planktos/"):
            out["runtime"] += size
        else:
            out["files"] += size
    return out


# --- what pages viewed ----------------------------------------------------------------------


@dataclass
class Viewed:
    """Byte ranges of the site's files that pages received, per URL path."""

    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def add(self, path: str, start: int, end: int) -> None:
        self.ranges.setdefault(path, []).append((start, end))

    def merge(self, other: Viewed) -> None:
        for path, spans in other.ranges.items():
            self.ranges.setdefault(path, []).extend(spans)

    def bytes(self) -> int:
        """Bytes in the union of the ranges."""
        total = 0
        for spans in self.ranges.values():
            end = -1
            for a, b in sorted(spans):
                if b > end:
                    total += b - max(a, end)
                    end = b
        return total


def answered(response: Response, origin: str) -> tuple[str, int, int] | None:
    """(URL path, first byte, end) a response gave its page, if one of the site's files."""
    url = response.url
    if not url.startswith(origin) or response.status not in (200, 206):
        return None
    path = unquote(urlsplit(url).path)
    if path.startswith("/planktos/") or path == "/planktos.sw.js" or "?" in url:
        return None
    headers = response.headers
    size = headers.get("content-length")
    match = re.fullmatch(r"bytes (\d+)-(\d+)/\d+", headers.get("content-range", ""))
    if response.status == 206 and match:
        return path, int(match[1]), int(match[2]) + 1
    if size is not None:
        return path, 0, int(size)
    return None


# --- visitors ------------------------------------------------------------------------------


@dataclass
class Visitor:
    """One browser profile and what its pages received.

    Answers of the worker are whole for small files; for large files (streamed piece by
    piece) a page may cancel the answer early, so what it received is bounded by the
    worker's ``served`` counter minus the small files' answers.
    """

    name: str
    context: BrowserContext
    origin: str
    large: frozenset[str] = frozenset()  # URL paths of files with per-piece hashes
    before_control: Viewed = field(default_factory=Viewed)
    controlled: Viewed = field(default_factory=Viewed)
    streamed: Viewed = field(default_factory=Viewed)
    small_answers: int = 0  # bytes of the worker's answers for small files, repeats included
    errors: list[str] = field(default_factory=list)
    sw: bool = True  # service workers allowed (False: the plain HTTP reader)
    tab: Page | None = None
    left: Counter[str] = field(default_factory=Counter)  # agents of the pages left, summed

    def watch(self) -> None:
        def on_response(response: Response) -> None:
            got = answered(response, self.origin)
            if got is None:
                return
            path, start, end = got
            if not response.from_service_worker:
                self.before_control.add(path, start, end)
            elif path in self.large:
                self.streamed.add(path, start, end)
            else:
                self.controlled.add(path, start, end)
                self.small_answers += end - start

        def on_console(msg: Any) -> None:
            if msg.type == "error":
                self.errors.append(f"{self.name}: {msg.text}")

        self.context.on("response", on_response)
        self.context.on("console", on_console)
        self.context.on("weberror", lambda e: self.errors.append(f"{self.name}: {e.error}"))

    async def arrive(self) -> None:
        """Open the home page and wait until the worker controls it and the agent leads."""
        self.tab = await self.context.new_page()
        await self.tab.goto(self.origin)
        await self.until_agent()

    async def until_agent(self) -> None:
        assert self.tab is not None
        await self.tab.wait_for_function(
            "() => !!navigator.serviceWorker.controller"
            " && performance.getEntriesByType('resource').some((e) => e.name.endsWith("
            f"'/{AGENT}'))",
            timeout=WAIT_MS,
        )
        await until(self.tab, f"async () => (await import('{self.origin}{AGENT}')).counters.leader")

    async def view(self, pages: list[str]) -> dict[str, float]:
        """Visit each page in this visitor's one tab; returns load times (ms)."""
        assert self.tab is not None
        times = {}
        for page in pages:
            if self.sw:
                self.left.update(await self.agent_counters())
            times[page] = await load(self.tab, self.origin + page)
        return times

    async def agent_counters(self) -> dict[str, Any]:
        """The counters of the agent of the page in the tab (each page runs its own)."""
        assert self.tab is not None
        counters: dict[str, Any] = await self.tab.evaluate(
            f"async () => ({{ ...(await import('{self.origin}{AGENT}')).counters }})"
        )
        return counters

    async def counters(self) -> dict[str, Any]:
        """The worker's counters, and the agents' of every page viewed (docs/runtime.md)."""
        assert self.tab is not None
        await self.until_agent()
        agent = Counter(self.left)
        agent.update(await self.agent_counters())
        worker = await self.tab.evaluate(
            """() => new Promise((resolve) => {
              const channel = new MessageChannel();
              channel.port1.onmessage = (e) => resolve(e.data);
              navigator.serviceWorker.controller.postMessage({ type: "stats" }, [channel.port2]);
            })"""
        )
        return {"agent": agent, "worker": worker}


async def until(page: Page, predicate: str, timeout: float = WAIT_MS / 1000) -> None:
    """Evaluate ``predicate`` (it may return a promise) until it is truthy."""
    deadline = time.monotonic() + timeout
    while not await page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise TimeoutError(predicate)
        await asyncio.sleep(0.05)


async def load(tab: Page, url: str) -> float:
    """Navigate, wait for images and video metadata; the navigation's load time in ms.

    Videos must also have stopped loading (preload="metadata" idles once it has read
    ahead), so that their bytes are counted for this visitor, not for the next one.
    """
    await tab.goto(url, timeout=WAIT_MS)
    await tab.wait_for_function(
        """() => {
          const nav = performance.getEntriesByType("navigation")[0];
          return nav && nav.loadEventEnd > 0
            && [...document.images].every((i) => i.complete)
            && [...document.querySelectorAll("video")].every(
              (v) => v.readyState >= 1 && v.networkState !== v.NETWORK_LOADING);
        }""",
        timeout=WAIT_MS,
    )
    elapsed: float = await tab.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.loadEventEnd - n.startTime; })()"
    )
    return elapsed


async def new_visitor(browser: Browser, name: str, server: Server, sw: bool = True) -> Visitor:
    context = await browser.new_context(
        permissions=["camera", "microphone"], service_workers="allow" if sw else "block"
    )
    visitor = Visitor(name, context, server.url, server.large, sw=sw)
    visitor.watch()
    return visitor


async def until_swarm(server: Server, size: int, timeout: float = 20) -> bool:
    """Wait until every swarm the tracker knows has ``size`` peers (0: no peer left at all).

    False on timeout: the result says so rather than the benchmark failing.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sizes = server.tracker_sizes()
        done = all(n == size for n in sizes.values())
        if done and (sizes or size == 0):
            return True
        await asyncio.sleep(0.1)
    return False


def visitor_report(v: Visitor, counters: dict[str, Any]) -> dict[str, Any]:
    agent, worker = counters["agent"], counters["worker"]
    # The agent takes no web seed since it reads from peers only (docs/runtime.md).
    from_web_seed = agent.get("bytesFromWebSeed", 0)
    downloaded = worker["bytes"]["origin"] + from_web_seed + agent["bytesFromPeers"]
    streamed = max(0, worker["served"] - v.small_answers)
    viewed = v.controlled.bytes() + min(v.streamed.bytes(), streamed)
    return {
        "name": v.name,
        "viewed_bytes": viewed,
        "requested_bytes": v.controlled.bytes() + v.streamed.bytes(),
        "downloaded_bytes": downloaded,
        "downloaded_per_viewed": round(downloaded / viewed, 3) if viewed else None,
        "from_peers": agent["bytesFromPeers"],
        "from_web_seed": from_web_seed,
        "from_origin_by_worker": worker["bytes"]["origin"],
        "uploaded": agent["bytesUploaded"],
        "first_page_bytes_before_control": v.before_control.bytes(),
        "pieces_rejected": agent["piecesRejected"] + worker["rejected"]["count"],
        # Requests the worker passed to the network after an error of its own, and those it
        # failed (bad bytes even from the origin): each should be 0.
        "worker_fallbacks": worker["requests"]["fallback"],
        "worker_failed": worker["requests"]["failed"],
    }


# --- the phases ----------------------------------------------------------------------------


async def sequential(browser: Browser, server: Server, n: int, pages: list[str]) -> dict[str, Any]:
    """N visitors one after another; each stays (and seeds) while the next ones come."""
    visitors: list[Visitor] = []
    reports = []
    controlled_origin = before_control = runtime = 0
    warm = True
    for i in range(n):
        v = await new_visitor(browser, f"v{i + 1}", server)
        start = len(settled(server))
        await v.arrive()
        arrived = len(settled(server))
        await v.view(pages)
        lines = settled(server)
        first, after = origin_bytes(lines[start:arrived]), origin_bytes(lines[arrived:])
        before_control += first["files"] + first["web_seed"]
        controlled_origin += after["files"] + after["web_seed"]
        runtime += first["runtime"] + after["runtime"]
        reports.append(visitor_report(v, await v.counters()))
        visitors.append(v)
        warm = await until_swarm(server, i + 1) and warm
    viewed = [r["viewed_bytes"] for r in reports]
    one_copy = int(statistics.median(viewed))
    return {
        "visitors": reports,
        "one_copy_bytes": one_copy,
        "viewed_bytes_min_max": [min(viewed), max(viewed)],
        "origin_bytes_under_control": controlled_origin,
        "origin_multiple_under_control": round(controlled_origin / one_copy, 3),
        "first_page_bytes_before_control": before_control,
        "runtime_bytes": runtime,
        "every_visitor_seeding_before_the_next": warm,
        "_visitors": visitors,
    }


async def concurrent(
    browser: Browser, server: Server, n: int, pages: list[str], one_copy: int
) -> dict[str, Any]:
    """N fresh visitors at once. Their origin bytes under control come from their counters
    (the worker's origin fetches and the agent's web seed), the log cannot tell them apart.
    """
    start = len(settled(server))
    visitors = [await new_visitor(browser, f"c{i + 1}", server) for i in range(n)]

    async def visit(v: Visitor) -> None:
        await v.arrive()
        await v.view(pages)

    await asyncio.gather(*(visit(v) for v in visitors))
    spent = origin_bytes(settled(server)[start:])
    reports = [visitor_report(v, await v.counters()) for v in visitors]
    controlled = sum(r["from_web_seed"] + r["from_origin_by_worker"] for r in reports)
    for v in visitors:
        await v.context.close()
    return {
        "visitors": reports,
        "origin_bytes_under_control": controlled,
        "origin_multiple_under_control": round(controlled / one_copy, 3),
        "origin_log_bytes_total": spent["files"] + spent["web_seed"],
        "runtime_bytes": spent["runtime"],
        "errors": [e for v in visitors for e in v.errors],
    }


async def timings(
    browser: Browser, built: Server, plain: Server, returning: Visitor, pages: list[str], runs: int
) -> dict[str, Any]:
    """Load times (ms): plain HTTP first and repeat visits; Planktos repeat and warm-swarm."""
    out: dict[str, dict[str, list[float]]] = {
        k: {p: [] for p in pages}
        for k in ("plain_first", "plain_repeat", "planktos_repeat", "planktos_first_warm_swarm")
    }
    for run in range(runs):
        reader = await new_visitor(browser, f"plain{run}", plain, sw=False)
        reader.tab = await reader.context.new_page()
        await load(reader.tab, plain.url)  # the same arrival as below
        for key in ("plain_first", "plain_repeat"):
            for page, ms in (await reader.view(pages)).items():
                out[key][page].append(ms)
        await reader.context.close()
        for page, ms in (await returning.view(pages)).items():
            out["planktos_repeat"][page].append(ms)
        newcomer = await new_visitor(browser, f"new{run}", built)
        await newcomer.arrive()
        for page, ms in (await newcomer.view(pages)).items():
            out["planktos_first_warm_swarm"][page].append(ms)
        await newcomer.context.close()
    medians = {k: {p: statistics.median(v) for p, v in d.items()} for k, d in out.items()}

    def ratio(a: str, b: str) -> float:
        return round(statistics.median(medians[a][p] / medians[b][p] for p in pages), 3)

    return {
        "load_ms": {k: {p: round(ms, 1) for p, ms in d.items()} for k, d in medians.items()},
        "repeat_vs_plain_with_cache": ratio("planktos_repeat", "plain_repeat"),
        "first_warm_swarm_vs_plain": ratio("planktos_first_warm_swarm", "plain_first"),
    }


# --- sites ---------------------------------------------------------------------------------


def tiny_site(root: Path) -> None:
    """Three small pages sharing a style sheet and a script (for --quick)."""
    root.mkdir(parents=True)
    head = '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
    (root / "style.css").write_text("body { color: teal }\n/* " + "x" * 30_000 + " */\n")
    (root / "app.js").write_text("window.app = 1;\n/* " + "y" * 50_000 + " */\n")
    (root / "picture.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><!-- '
        + "z" * 80_000
        + ' --><rect width="10" height="10"/></svg>'
    )
    (root / "index.html").write_text(head + "<title>home</title></head><h1>home</h1>")
    for name in ("one", "two"):
        (root / f"{name}.html").write_text(
            head + f'<title>{name}</title><link rel="stylesheet" href="style.css">'
            f'<script src="app.js"></script></head><h1>{name}</h1><img src="picture.svg" alt="">'
        )


def large_files(root: Path) -> frozenset[str]:
    """URL paths of the files a built site's manifest verifies piece by piece."""
    manifest = read_full(root / "planktos" / "manifest.json")
    return frozenset("/" + unquote(k) for k, f in manifest["files"].items() if "chunks" in f)


def html_pages(root: Path) -> list[str]:
    """URL paths of the pages to view: every HTML file but the home page and 404."""
    pages = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root).as_posix()
        if rel in ("index.html", "404.html"):
            continue
        pages.append(rel.removesuffix("index.html"))
    return pages


def shown(path: Path) -> str:
    """A path relative to the repository when it is inside it."""
    try:
        return path.resolve().relative_to(HERE.parent).as_posix()
    except ValueError:
        return str(path)


def git_state() -> str:
    """The commit measured, marked ``+changes`` when the working tree differs from it."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True)
        return proc.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def only_loopback() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


# --- main ----------------------------------------------------------------------------------


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source = work / "source"
    if args.quick:
        tiny_site(source)
    else:
        shutil.copytree(args.site, source)
    built_root, plain_root = work / "built", work / "plain"
    shutil.copytree(source, built_root)
    shutil.copytree(source, plain_root)
    build = [sys.executable, "-m", "planktos", "build", "--root", str(built_root)]
    subprocess.run([*build, "--inject", "--quiet"], check=True)
    pages = html_pages(source)
    with (
        serve(built_root, work / "built.log") as built,
        serve(plain_root, work / "plain.log") as plain,
    ):
        built.large = large_files(built_root)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
            )
            version = browser.version
            try:
                seq = await sequential(browser, built, args.visitors, pages)
                visitors: list[Visitor] = seq.pop("_visitors")
                times = await timings(browser, built, plain, visitors[0], pages, args.runs)
                errors = [e for v in visitors for e in v.errors]
                for v in visitors:
                    await v.context.close()
                left = await until_swarm(built, 0, timeout=10)
                one_copy = seq["one_copy_bytes"]
                conc = await concurrent(browser, built, args.visitors, pages, one_copy)
            finally:
                await browser.close()
    return {
        "site": "tiny (generated)" if args.quick else shown(args.site),
        "pages": pages,
        "visitors": args.visitors,
        "runs": args.runs,
        "sequential": seq,
        "concurrent": {**conc, "swarm_empty_before": left},
        "timing": times,
        "console_errors": errors + conc.pop("errors"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "chromium": version,
        "source": git_state(),
    }


def markdown(r: dict[str, Any]) -> str:
    seq, conc, t = r["sequential"], r["concurrent"], r["timing"]
    rows = [
        f"## Swarm of {r['visitors']} browsers ({r['site']}, pages: {', '.join(r['pages'])})",
        "",
        f"Chromium {r['chromium']}, {r['machine']['cpus']} cores, source {r['source']}.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| one copy of the bytes viewed (median visitor) | {seq['one_copy_bytes']:,} B |",
        "| one after another: origin bytes under the worker's control | "
        f"{seq['origin_bytes_under_control']:,} B = "
        f"{seq['origin_multiple_under_control']} x one copy |",
        "| one after another: first pages before control (plain HTTP, all visitors) | "
        f"{seq['first_page_bytes_before_control']:,} B |",
        "| one after another: runtime, manifest and torrents (all visitors) | "
        f"{seq['runtime_bytes']:,} B |",
        f"| all at once: origin bytes under the worker's control | "
        f"{conc['origin_bytes_under_control']:,} B = {conc['origin_multiple_under_control']}"
        " x one copy |",
        f"| all at once: origin bytes for the site's files, first pages included | "
        f"{conc['origin_log_bytes_total']:,} B |",
        f"| repeat visit vs plain HTTP with cache (median page-load ratio) | "
        f"{t['repeat_vs_plain_with_cache']}x |",
        f"| first visit with a warm swarm vs plain HTTP (median page-load ratio) | "
        f"{t['first_warm_swarm_vs_plain']}x |",
        "",
        "| visitor | viewed | requested | downloaded | downloaded / viewed | from peers "
        "| web seed | origin (worker) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in seq["visitors"] + conc["visitors"]:
        rows.append(
            f"| {v['name']} | {v['viewed_bytes']:,} | {v['requested_bytes']:,} "
            f"| {v['downloaded_bytes']:,} | "
            f"{v['downloaded_per_viewed']} | {v['from_peers']:,} | {v['from_web_seed']:,} | "
            f"{v['from_origin_by_worker']:,} |"
        )
    rows += [
        "",
        "v1…: one after another; c1…: all at once. Load times (ms, median):",
        "",
        "| page | plain first | plain repeat | Planktos repeat | Planktos first, warm swarm |",
        "| --- | --- | --- | --- | --- |",
    ]
    ms = t["load_ms"]
    for page in r["pages"]:
        rows.append(
            f"| {page} | {ms['plain_first'][page]} | {ms['plain_repeat'][page]} | "
            f"{ms['planktos_repeat'][page]} | {ms['planktos_first_warm_swarm'][page]} |"
        )
    if r["console_errors"]:
        rows += ["", f"Console errors seen: {len(r['console_errors'])} (see swarm.json)."]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 visitors, a tiny site, one run")
    parser.add_argument("--visitors", type=int, help="browsers in the swarm (default 4)")
    parser.add_argument("--runs", type=int, help="timing runs (default 3)")
    parser.add_argument("--site", type=Path, default=DEMO_SITE, help="site to serve")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where swarm.json/md go")
    args = parser.parse_args(argv)
    args.visitors = args.visitors or (2 if args.quick else 4)
    args.runs = args.runs or (1 if args.quick else 3)
    if not only_loopback():
        print(
            "swarm_bench: run inside a network namespace holding only loopback, e.g. "
            "scripts/in-netns .venv/bin/python bench/swarm_bench.py",
            file=sys.stderr,
        )
        return 2
    if not args.quick and not (args.site / "index.html").is_file():
        print(f"swarm_bench: {args.site}/index.html missing", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="planktos-swarm-") as tmp:
        os.environ.setdefault("PLANKTOS_CACHE_DIR", str(Path(tmp) / "cache"))
        result = asyncio.run(run(args, Path(tmp)))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "swarm.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "swarm.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
