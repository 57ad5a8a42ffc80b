"""Benchmark a flash crowd on a capped origin, a quiet origin, and a docs site (issue 11).

PLAIN (the site's files unbuilt) and PLANKTOS (the same files built with ``planktos build
--inject``) are both served by ``planktos serve`` with an access log, and measured in one
invocation, alternating from round to round (PLAIN first in even rounds, PLANKTOS first in
odd ones). Each round launches one fresh Chromium (Debian's, flags of FACTS.md) whose
contexts are the visitors (each its own profile), so that the visitors' CPU time is the
CPU time of that browser's process tree.

Cases:

- **crowd**: the origin's outgoing bytes capped with ``tc`` HTB on ``lo`` (a class matched on
  the origin's source port, a bfifo leaf bounding its queue; checked first with a timed
  download). N visitors arrive G seconds apart; each loads the home page, the gallery
  (until every image is complete), then video.html (``--dwell`` seconds on each page before
  the next: the time a reader spends, when the runtime prefetches), where an init script
  plays the video muted as soon as the DOM is ready; it plays ``--play`` seconds, is paused,
  and the visitor stays on that page (its agent seeds) until the round ends. Per visitor:
  gallery load (navigation start to the later of ``load`` and the last image's ``responseEnd``),
  video.html load (navigation start to the end of ``load``), first video frame (navigation
  start to the first ``requestVideoFrameCallback``; ``playing`` where that never fires).
  Per round: bytes the origin sent (the access log's body bytes, everything: pages, runtime,
  manifest, torrents, web seed ranges; and the HTB class's counter, headers and tracker
  WebSocket included), bytes from peers (verified: the worker's ``bytes.peer`` at the end of
  the visit, docs/runtime.md "Counters"; the agents' raw ``bytesFromPeers`` too), the
  visitors' CPU-seconds (utime + stime of the browser's processes, reaped children included,
  from /proc), and the machine's CPU
  (/proc/stat sampled every second: share of seconds at least 95 % busy; the machine is
  shared, so other work counts too). Page-load ratios from a mode whose seconds were
  saturated more than half of the time are marked as not valid.
- **quiet**: no cap, one visitor. PLAIN: a first visit (home, gallery, video.html) and a
  repeat visit of the same pages with the browser cache warm. PLANKTOS: one earlier visitor
  does the same visit and stays on video.html (a warm swarm); then a newcomer's first visit
  and its repeat visit. Medians over rounds per measure, and the median of the measures'
  ratios.
- **docs**: Debian's Python documentation (``python3-doc``), copied and built with
  ``planktos build --inject``; no cap; V visitors, one every ``--docs-gap`` seconds, each
  reading the home page and two of a fixed set of popular pages (so that visitors overlap),
  ``--docs-dwell`` seconds on each, and staying on the last one. Origin bytes (everything)
  per visitor, PLAIN against PLANKTOS.

Run it in a network namespace holding only loopback, as root (``tc`` and WebRTC):
``scripts/in-netns .venv/bin/python bench/crowd_bench.py``. ``--quick``: 2 visitors, one
round, crowd and quiet cases only (what tests/browser/test_crowd_bench.py runs).
Writes ``crowd.json`` (every figure of every run), ``crowd.md`` and ``crowd.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    WebError,
    async_playwright,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from tests.browser.browsers import CHROMIUM, CHROMIUM_ARGS

from delay_proxy import delayed
from machine import describe, load, machine_info
from swarm_bench import (
    DEMO_SITE,
    RESULTS,
    Server,
    git_state,
    only_loopback,
    serve,
    settled,
    shown,
    until_swarm,
)

DOCS = Path("/usr/share/doc/python3/html")
# Pages of the Python docs that visitors read besides the home page: each visitor reads two
# of them (visitor i: POPULAR[i % 6] and POPULAR[(i + 2) % 6]), so each is read by several.
POPULAR = [
    "tutorial/index.html",
    "library/functions.html",
    "library/stdtypes.html",
    "glossary.html",
    "library/index.html",
    "reference/index.html",
]
MODES = ("plain", "planktos")
STEP_MS = 90_000  # bound of every page wait: a saturated round may be slow, never stuck
SATURATED = 0.95  # a second counts as saturated when the machine was at least this busy
INVALID_SHARE = 0.5  # page-load ratios are not valid when more seconds than this saturated

# Run in every page before its scripts: play the page's videos (muted, so autoplay is
# allowed) as soon as the DOM is there, and note when the first frame, ``playing`` and
# stalls happened (performance.now(): milliseconds since the navigation started); a stall
# (``waiting`` once playing) lasts until the next ``playing``.
PLAY_JS = """
window.__crowd = { waiting: 0 };
document.addEventListener("DOMContentLoaded", () => {
  for (const v of document.querySelectorAll("video")) {
    v.muted = true;
    v.addEventListener("playing", () => {
      const c = window.__crowd;
      if (c.playing === undefined) c.playing = performance.now();
      if (v.__stalledAt === undefined) return;
      c.stalledMs = (c.stalledMs || 0) + performance.now() - v.__stalledAt;
      v.__stalledAt = undefined;
    });
    v.addEventListener("waiting", () => {
      const c = window.__crowd;
      c.waiting += 1;
      if (c.playing !== undefined && v.__stalledAt === undefined) {
        c.stalls = (c.stalls || 0) + 1;
        v.__stalledAt = performance.now();
      }
    });
    if (v.requestVideoFrameCallback) {
      v.requestVideoFrameCallback(() => { window.__crowd.firstFrame = performance.now(); });
    }
    const played = v.play();
    if (played) played.catch((e) => { window.__crowd.playError = String(e); });
  }
});
"""
NAV_MS = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  return n && n.loadEventEnd > 0 ? n.loadEventEnd - n.startTime : null;
}"""
IMAGES_DONE = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  return n && n.loadEventEnd > 0 && [...document.images].every((i) => i.complete);
}"""
IMAGES_MS = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  let end = n.loadEventEnd;
  for (const e of performance.getEntriesByType("resource")) {
    if (e.initiatorType === "img") end = Math.max(end, e.responseEnd);
  }
  return end - n.startTime;
}"""
# The counters of the page's agent, if the page loaded one (whatever its file is called).
AGENT_COUNTERS = """async () => {
  const e = performance.getEntriesByType("resource").find(
    (r) => /\\/planktos\\/agent[^/]*\\.js(\\?|$)/.test(r.name));
  if (!e) return null;
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 3000));
  try {
    const m = await Promise.race([import(e.name), timeout]);
    return m && m.counters ? JSON.parse(JSON.stringify(m.counters)) : null;
  } catch (err) { return null; }
}"""
# Where a page's time went (ms since its navigation started): the HTML's first byte, and when
# the runtime's first pieces arrived (the agent's script, the manifest, the first torrent).
MARKS = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  const r = performance.getEntriesByType("resource");
  const end = (re) => {
    const e = r.filter((x) => re.test(x.name));
    return e.length ? Math.round(Math.min(...e.map((x) => x.responseEnd))) : null;
  };
  return {
    html_first_byte: n ? Math.round(n.responseStart - n.startTime) : null,
    html_end: n ? Math.round(n.responseEnd - n.startTime) : null,
    style_sheet: end(/\\.css(\\?|$)/),
    dom_ready: n ? Math.round(n.domContentLoadedEventEnd - n.startTime) : null,
    agent_js: end(/\\/planktos\\/agent[^/]*\\.js/),
    manifest: end(/\\/planktos\\/manifest/),
    first_torrent: end(/\\.torrent(\\?|$)/),
    controlled: n ? n.workerStart > 0 : null, // the worker answered the navigation
  };
}"""
WORKER_STATS = """() => new Promise((resolve) => {
  const c = navigator.serviceWorker && navigator.serviceWorker.controller;
  if (!c) { resolve(null); return; }
  const channel = new MessageChannel();
  channel.port1.onmessage = (e) => resolve(e.data);
  c.postMessage({ type: "stats" }, [channel.port2]);
  setTimeout(() => resolve(null), 5000);
})"""


# --- the machine: CPU and the cap -------------------------------------------------------------


def proc_stat_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


class CpuMonitor:
    """Samples the machine's busy share once a second in a thread, until stopped."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (monotonic time, busy share 0..1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        busy, total = proc_stat_times()
        while not self._stop.wait(1.0):
            b, t = proc_stat_times()
            if t > total:
                self.samples.append((time.monotonic(), (b - busy) / (t - total)))
            busy, total = b, t

    def __enter__(self) -> CpuMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, start: float, end: float) -> list[float]:
        return [share for t, share in self.samples if start < t <= end + 0.5]


def saturation(shares: list[float]) -> dict[str, Any]:
    return {
        "seconds": len(shares),
        "saturated_share": round(sum(s >= SATURATED for s in shares) / len(shares), 3)
        if shares
        else None,
        "mean_busy": round(statistics.fmean(shares), 3) if shares else None,
    }


def process_table() -> dict[int, tuple[int, str, float]]:
    """pid → (parent pid, command name, CPU-seconds: own and reaped children's)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        # fields after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
        cpu = sum(int(x) for x in rest[11:15]) / tick
        out[int(entry.name)] = (int(rest[1]), comm, cpu)
    return out


def browser_cpu_seconds() -> float:
    """CPU-seconds of every Chromium process this process started, reaped children included.

    Each round launches its own browser, so this is that round's visitors' CPU time.
    """
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        _, comm, cpu = table[pid]
        if "chrom" in comm.lower():
            total += cpu
        todo.extend(children.get(pid, []))
    return total


def process_cpu_seconds(pid: int) -> float:
    return process_table().get(pid, (0, "", 0.0))[2]


def tc(*args: str) -> None:
    proc = subprocess.run(["tc", *args], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"tc {' '.join(args)}: {proc.stderr.strip()}")


@contextmanager
def capped(ports: dict[str, int], mbit: float, queue_bytes: int) -> Iterator[dict[str, str]]:
    """Cap each port's outgoing bytes on ``lo`` at ``mbit`` (one HTB class each, a bfifo leaf
    of ``queue_bytes``); everything else (WebRTC between browsers) goes through a 10 Gbit/s
    default class. Yields the class id of each name."""
    tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10")
    classes = {}
    try:
        tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit")
        for i, (name, port) in enumerate(ports.items()):
            minor = 20 + 10 * i
            rate = f"{mbit}mbit"
            tc("class", "add", "dev", "lo", "parent", "1:", "classid", f"1:{minor}", "htb",
               "rate", rate, "ceil", rate)  # fmt: skip
            tc("qdisc", "add", "dev", "lo", "parent", f"1:{minor}", "handle", f"{minor}:",
               "bfifo", "limit", str(queue_bytes))  # fmt: skip
            tc("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "u32",
               "match", "ip", "sport", str(port), "0xffff", "flowid", f"1:{minor}")  # fmt: skip
            classes[name] = f"1:{minor}"
        yield classes
    finally:
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True)


def class_bytes(classid: str) -> int:
    """Bytes sent through an HTB class on ``lo`` so far (headers included)."""
    out = subprocess.run(
        ["tc", "-s", "class", "show", "dev", "lo", "classid", classid],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Sent (\d+) bytes", out)
    return int(match[1]) if match else 0


def timed_download(url: str) -> dict[str, float]:
    """Download ``url`` once; its size, seconds and Mbit/s."""
    start = time.monotonic()
    with urlopen(url, timeout=60) as resp:
        size = len(resp.read())
    seconds = time.monotonic() - start
    return {
        "bytes": size,
        "seconds": round(seconds, 3),
        "mbit_s": round(size * 8 / seconds / 1e6, 2),
    }


def port_of(server: Server) -> int:
    match = re.search(r":(\d+)/$", server.url)
    assert match
    return int(match[1])


# --- visitors ---------------------------------------------------------------------------------


@dataclass
class Visit:
    """What one visitor saw: load times (ms), the runtime's counters, errors."""

    name: str
    times: dict[str, float | None] = field(default_factory=dict)
    video: dict[str, Any] = field(default_factory=dict)
    marks: dict[str, Any] = field(default_factory=dict)  # per page: where its time went
    agent: Counter[str] = field(default_factory=Counter)  # summed over the pages left
    worker: dict[str, Any] | None = None
    by_source: Counter[str] = field(default_factory=Counter)  # X-Planktos-Source → bytes
    errors: list[str] = field(default_factory=list)
    page: Page | None = None

    def peer_bytes(self) -> int:
        """Verified bytes from peers: the worker's count (``bytes.peer``; ``agent`` before the
        runtime said ``peer``), else the agents' raw count."""
        got = (self.worker or {}).get("bytes") or {}
        return int(got.get("peer", got.get("agent", self.agent.get("bytesFromPeers", 0))))

    def report(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "times_ms": self.times,
            "video": self.video,
            "marks_ms": self.marks,
            "from_peers": self.peer_bytes(),
            "from_peers_unverified": self.agent.get("bytesFromPeers", 0),
            "agent": dict(self.agent),
            "worker": self.worker,
            "served_by_source": dict(self.by_source),
            "errors": self.errors,
        }


async def step_page(page: Page, url: str) -> float | None:
    await page.goto(url, timeout=STEP_MS)
    await page.wait_for_function(NAV_MS, timeout=STEP_MS)
    ms: float | None = await page.evaluate(NAV_MS)
    return ms


async def step_gallery(page: Page, url: str) -> float:
    await page.goto(url, timeout=STEP_MS)
    await page.wait_for_function(IMAGES_DONE, timeout=STEP_MS, polling=50)
    ms: float = await page.evaluate(IMAGES_MS)
    return ms


async def step_video(page: Page, url: str, play_s: float) -> tuple[float | None, dict[str, Any]]:
    """Load a video page, wait for its first frame, let it play ``play_s`` seconds, pause."""
    ms = await step_page(page, url)
    await page.wait_for_function(
        "() => window.__crowd && (window.__crowd.firstFrame !== undefined"
        " || window.__crowd.playError !== undefined)",
        timeout=STEP_MS,
        polling=50,
    )
    deadline = time.monotonic() + play_s * 3 + 10
    while time.monotonic() < deadline:
        played = await page.evaluate(
            "() => Math.max(0, ...[...document.querySelectorAll('video')]"
            ".map((v) => v.currentTime))"
        )
        if played >= play_s:
            break
        await asyncio.sleep(0.25)
    info: dict[str, Any] = await page.evaluate(
        """() => {
          const vs = [...document.querySelectorAll("video")];
          for (const v of vs) v.pause();
          return { ...window.__crowd, played_s: Math.max(0, ...vs.map((v) => v.currentTime)) };
        }"""
    )
    return ms, info


async def visitor(
    browser: Browser,
    name: str,
    origin: str,
    steps: list[tuple[str, str]],
    play_s: float,
    planktos: bool,
    dwell_s: float = 0,
) -> Visit:
    """One visitor (a context of ``browser``) doing ``steps`` — (kind, URL path) with kind
    page, gallery or video — in one tab, which stays on the last page; ``dwell_s``: seconds
    spent reading each page before the next."""
    visit = Visit(name)
    context = await browser.new_context(permissions=["camera", "microphone"])
    await context.add_init_script(PLAY_JS)

    def on_response(response: Response) -> None:
        source = response.headers.get("x-planktos-source")
        if source and response.from_service_worker:
            visit.by_source[source] += int(response.headers.get("content-length") or 0)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            visit.errors.append(message.text)

    def on_weberror(error: WebError) -> None:
        visit.errors.append(str(error.error))

    context.on("response", on_response)
    context.on("console", on_console)
    context.on("weberror", on_weberror)
    visit.page = await context.new_page()
    await run_steps(visit, visit.page, origin, steps, play_s, planktos, dwell_s)
    return visit


async def run_steps(
    visit: Visit,
    page: Page,
    origin: str,
    steps: list[tuple[str, str]],
    play_s: float,
    planktos: bool,
    dwell_s: float = 0,
) -> None:
    """Do ``steps`` in ``page``, noting into ``visit`` the times, marks and errors."""
    left = None  # the page being left
    for kind, path in steps:
        key = path or "/"
        try:
            if planktos and page.url.startswith("http"):
                visit.agent.update(await agent_counters(page, visit.marks.get(left)))
            if kind == "gallery":
                visit.times[key] = await step_gallery(page, origin + path)
            elif kind == "video":
                visit.times[key], visit.video = await step_video(page, origin + path, play_s)
                frame = visit.video.get("firstFrame", visit.video.get("playing"))
                visit.times["first frame"] = frame
            else:
                visit.times[key] = await step_page(page, origin + path)
            visit.marks[key] = await page.evaluate(MARKS)
            left = key
            await asyncio.sleep(dwell_s)
        except Exception as err:  # a slow or broken step is a result, not a crash
            visit.errors.append(f"{key}: {type(err).__name__}: {str(err).splitlines()[0]}")
            visit.times.setdefault(key, None)


async def agent_counters(page: Page, marks: dict[str, Any] | None = None) -> Counter[str]:
    """The counters of the agent of ``page``; its first wire's time goes into ``marks`` (the
    page's), not into the sum."""
    got = dict(await page.evaluate(AGENT_COUNTERS) or {})
    first_wire = got.pop("firstWireMs", None)
    if marks is not None:
        marks["first_wire"] = first_wire or None
    return Counter({k: v for k, v in got.items() if isinstance(v, int | float)})


async def finish(visit: Visit, planktos: bool) -> None:
    """Read the counters of the visitor's last page (its agent) and of its worker."""
    if not planktos or visit.page is None:
        return
    try:
        last = list(visit.marks)[-1] if visit.marks else None
        visit.agent.update(await agent_counters(visit.page, visit.marks.get(last)))
        visit.worker = await visit.page.evaluate(WORKER_STATS)
    except Exception as err:
        visit.errors.append(f"counters: {type(err).__name__}: {err}")


async def launch(pw: Playwright) -> Browser:
    return await pw.chromium.launch(
        executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), timeout=30_000
    )


def log_bytes(lines: list[str]) -> dict[str, int]:
    """Body bytes the origin sent by kind, from access log lines (the stats probe excluded):
    the site's files at their URLs, the web seed, and Planktos's own files (its scripts, the
    manifest, torrents, anything else under /planktos/), which ``runtime_and_metadata`` sums.
    """
    out = dict.fromkeys(
        ("total", "site_files", "web_seed", "runtime_and_metadata", "scripts", "manifest",
         "torrents", "other_planktos"),
        0,
    )  # fmt: skip
    for line in lines:
        match = re.search(r'"GET (\S+) [^"]*" \d{3} (\d+|-)$', line)
        if not match or match[2] == "-":
            continue
        target, size = match[1], int(match[2])
        path = target.split("?", 1)[0]
        out["total"] += size
        if path.startswith("/planktos/w/") or "planktos-webseed" in target:
            kind = "web_seed"
        elif not path.startswith("/planktos"):
            kind = "site_files"
        elif path.endswith(".torrent"):
            kind = "torrents"
        elif "/manifest" in path:
            kind = "manifest"
        elif re.search(r"\.js(\.br|\.gz)?$", path):
            kind = "scripts"
        else:
            kind = "other_planktos"
        out[kind] += size
        if kind not in ("web_seed", "site_files"):
            out["runtime_and_metadata"] += size
    return out


def log_by_path(lines: list[str]) -> dict[str, list[int]]:
    """Per path (query dropped), from access log lines, the largest first: requests, body
    bytes, then each request's body bytes in order; which files the origin's bytes went to."""
    out: dict[str, list[int]] = {}
    for line in lines:
        match = re.search(r'"GET (\S+) [^"]*" \d{3} (\d+|-)$', line)
        if match:
            row = out.setdefault(match[1].split("?", 1)[0], [0, 0])
            row[0] += 1
            row[1] += 0 if match[2] == "-" else int(match[2])
            row.append(0 if match[2] == "-" else int(match[2]))
    return dict(sorted(out.items(), key=lambda kv: -kv[1][1]))


# --- the cases ----------------------------------------------------------------------------------


@dataclass
class Setup:
    """Both origins, the CPU monitor and the cap's HTB classes (empty when uncapped)."""

    pw: Playwright
    servers: dict[str, Server]
    cpu: CpuMonitor
    classes: dict[str, str] = field(default_factory=dict)


def order(round_: int) -> tuple[str, ...]:
    return MODES if round_ % 2 == 0 else MODES[::-1]


async def crowd_round(
    s: Setup,
    mode: str,
    n: int,
    gap: float,
    play_s: float,
    steps: list[tuple[str, str]],
    dwell_s: float = 0,
) -> dict[str, Any]:
    """N visitors, one every ``gap`` seconds, each staying; figures of the round."""
    server = s.servers[mode]
    planktos = mode == "planktos"
    browser = await launch(s.pw)
    start_line = len(settled(server))
    wire = class_bytes(s.classes[mode]) if s.classes else 0
    origin_cpu = process_cpu_seconds(server.proc.pid)
    busy = proc_stat_times()[0]
    start = time.monotonic()

    async def arrive(i: int) -> Visit:
        await asyncio.sleep(i * gap)
        return await visitor(browser, f"v{i + 1}", server.url, steps, play_s, planktos, dwell_s)

    try:
        visits = await asyncio.gather(*(arrive(i) for i in range(n)))
        end = time.monotonic()
        for v in visits:
            await finish(v, planktos)
        visitors_cpu = browser_cpu_seconds()
        busy = proc_stat_times()[0] - busy
    finally:
        await browser.close()
    lines = settled(server)[start_line:]
    left = await until_swarm(server, 0, timeout=15) if planktos else True
    return {
        "mode": mode,
        "seconds": round(end - start, 1),
        "origin_bytes": log_bytes(lines),
        "origin_wire_bytes": class_bytes(s.classes[mode]) - wire if s.classes else None,
        "origin_requests": len(lines),
        "origin_by_path": log_by_path(lines),
        "from_peers": sum(v.peer_bytes() for v in visits),
        "visitors_cpu_s": round(visitors_cpu, 2),
        "origin_cpu_s": round(process_cpu_seconds(server.proc.pid) - origin_cpu, 2),
        "machine": saturation(s.cpu.window(start, end)),
        # CPU-seconds the whole machine spent meanwhile: the rest was other work (and this
        # script's own Python).
        "machine_busy_cpu_s": round(busy / os.sysconf("SC_CLK_TCK"), 1),
        "swarm_empty_after": left,
        "visitors": [v.report() for v in visits],
    }


def median(values: list[float | None], digits: int = 1) -> float | None:
    got = [v for v in values if v is not None]
    return round(statistics.median(got), digits) if got else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def summarize_crowd(runs: list[dict[str, Any]], measures: list[str]) -> dict[str, Any]:
    """Medians per mode (times over every visitor of every round; bytes and CPU per round)."""
    out: dict[str, Any] = {}
    for mode in MODES:
        mine = [r for r in runs if r["mode"] == mode]
        shares = [r["machine"]["saturated_share"] for r in mine]
        n = len(mine[0]["visitors"]) if mine else 1
        out[mode] = {
            "times_ms": {
                m: median([v["times_ms"].get(m) for r in mine for v in r["visitors"]])
                for m in measures
            },
            "origin_bytes": median([r["origin_bytes"]["total"] for r in mine]),
            "origin_wire_bytes": median([r["origin_wire_bytes"] for r in mine]),
            "origin_bytes_by_kind": {
                k: median([r["origin_bytes"].get(k) for r in mine])
                for k in ("site_files", "web_seed", "scripts", "manifest", "torrents")
            },
            "from_peers": median([r["from_peers"] for r in mine]),
            "visitors_cpu_s_per_visit": median([r["visitors_cpu_s"] / n for r in mine]),
            "saturated_share": median(shares, 3),
            "stalls": sum(
                (v.get("video") or {}).get("stalls", 0) for r in mine for v in r["visitors"]
            ),
            "stalled_ms": round(
                sum((v.get("video") or {}).get("stalledMs", 0) for r in mine for v in r["visitors"])
            ),
            "failed_steps": sum(
                t is None for r in mine for v in r["visitors"] for t in v["times_ms"].values()
            ),
        }
    for mode in MODES:
        out[mode]["marks_ms"] = {
            f"{page}: {mark}": median(
                [
                    (v.get("marks_ms", {}).get(page) or {}).get(mark)
                    for r in runs
                    if r["mode"] == mode
                    for v in r["visitors"]
                ]
            )
            for page in ("gallery.html", "video.html")
            for mark in (
                "html_first_byte",
                "html_end",
                "style_sheet",
                "dom_ready",
                "agent_js",
                "first_torrent",
                "first_wire",
            )
        }
    plain, pk = out["plain"], out["planktos"]
    valid = all((x["saturated_share"] or 0) <= INVALID_SHARE for x in (plain, pk))
    out["ratios"] = {
        **{m: ratio(pk["times_ms"][m], plain["times_ms"][m]) for m in measures},
        "origin_bytes": ratio(pk["origin_bytes"], plain["origin_bytes"]),
        "visitors_cpu_s_per_visit": ratio(
            pk["visitors_cpu_s_per_visit"], plain["visitors_cpu_s_per_visit"]
        ),
    }
    out["page_load_ratios_valid"] = valid
    return out


async def crowd_case(s: Setup, args: argparse.Namespace) -> dict[str, Any]:
    steps = [("page", ""), ("gallery", "gallery.html"), ("video", "video.html")]
    runs = []
    for r in range(args.rounds):
        for mode in order(r):
            print(f"crowd: round {r + 1}, {mode}", flush=True)
            runs.append(
                await crowd_round(s, mode, args.visitors, args.gap, args.play, steps, args.dwell)
            )
    return {"runs": runs, **summarize_crowd_case(runs)}


def summarize_crowd_case(runs: list[dict[str, Any]]) -> dict[str, Any]:
    measures = ["gallery.html", "video.html", "first frame"]
    return {"summary": summarize_crowd(runs, measures), "measures": measures}


async def quiet_round(s: Setup, mode: str, play_s: float, rtt_ms: float = 0) -> dict[str, Any]:
    server = s.servers[mode]
    planktos = mode == "planktos"
    steps = [("page", ""), ("gallery", "gallery.html"), ("video", "video.html")]
    browser = await launch(s.pw)
    start_line = len(settled(server))
    try:
        # The origin `rtt_ms` away (delay_proxy.py): what waits for a round trip shows.
        with delayed(server.url, rtt_ms) as url:
            seeder, warm = None, None
            if planktos:
                seeder = await visitor(browser, "seeder", url, steps, play_s, True)
                await finish(seeder, True)
                warm = await until_swarm(server, 1, timeout=15)
            start = time.monotonic()
            first = await visitor(browser, "first", url, steps, play_s, planktos)
            assert first.page is not None
            # The repeat visit: the same pages again in the same tab (profile, cache, store
            # warm).
            repeat = Visit("repeat")
            await run_steps(repeat, first.page, url, steps, play_s, planktos)
            end = time.monotonic()
            await finish(first, planktos)
    finally:
        await browser.close()
    lines = settled(server)[start_line:]
    if planktos:
        await until_swarm(server, 0, timeout=15)
    return {
        "mode": mode,
        "warm_swarm": warm,
        "seeder": seeder.report() if seeder else None,
        "first": first.report(),
        "repeat": repeat.report(),
        "origin_bytes": log_bytes(lines),
        "machine": saturation(s.cpu.window(start, end)),  # during the measured visits
    }


async def quiet_case(s: Setup, args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for r in range(args.rounds):
        for mode in order(r):
            print(f"quiet: round {r + 1}, {mode}", flush=True)
            runs.append(await quiet_round(s, mode, min(args.play, 3.0), args.rtt))
    return {"runs": runs, **summarize_quiet(runs)}


def summarize_quiet(runs: list[dict[str, Any]]) -> dict[str, Any]:
    measures = ["/", "gallery.html", "video.html", "first frame"]
    summary: dict[str, Any] = {}
    for visit in ("first", "repeat"):
        med = {
            mode: {
                m: median([r[visit]["times_ms"].get(m) for r in runs if r["mode"] == mode])
                for m in measures
            }
            for mode in MODES
        }
        ratios = {m: ratio(med["planktos"][m], med["plain"][m]) for m in measures}
        got = [x for x in ratios.values() if x is not None]
        summary[visit] = {
            "times_ms": med,
            "ratios": ratios,
            "median_ratio": round(statistics.median(got), 3) if got else None,
        }
    shares = {
        mode: median([r["machine"]["saturated_share"] for r in runs if r["mode"] == mode], 3)
        for mode in MODES
    }
    summary["saturated_share"] = shares
    summary["page_load_ratios_valid"] = all((x or 0) <= INVALID_SHARE for x in shares.values())
    return {"summary": summary, "measures": measures}


def docs_steps(i: int, index: str) -> list[tuple[str, str]]:
    return [("page", index), ("page", POPULAR[i % 6]), ("page", POPULAR[(i + 2) % 6])]


async def docs_visitor(
    browser: Browser, i: int, server: Server, args: argparse.Namespace, planktos: bool
) -> Visit:
    await asyncio.sleep(i * args.docs_gap)
    steps = docs_steps(i, "index.html")
    return await visitor(browser, f"d{i + 1}", server.url, steps, 0, planktos, args.docs_dwell)


async def docs_case(s: Setup, args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for r in range(args.docs_rounds):
        for mode in order(r):
            print(f"docs: round {r + 1}, {mode}", flush=True)
            server = s.servers[mode]
            planktos = mode == "planktos"
            browser = await launch(s.pw)
            start_line = len(settled(server))
            start = time.monotonic()

            try:
                visits = await asyncio.gather(
                    *(
                        docs_visitor(browser, i, server, args, planktos)
                        for i in range(args.docs_visitors)
                    )
                )
                for v in visits:
                    await finish(v, planktos)
            finally:
                await browser.close()
            end = time.monotonic()
            lines = settled(server)[start_line:]
            if planktos:
                await until_swarm(server, 0, timeout=15)
            spent = log_bytes(lines)
            runs.append(
                {
                    "mode": mode,
                    "origin_bytes": spent,
                    "origin_bytes_per_visitor": round(spent["total"] / args.docs_visitors),
                    "from_peers": sum(v.peer_bytes() for v in visits),
                    "machine": saturation(s.cpu.window(start, end)),
                    "visitors": [v.report() for v in visits],
                }
            )
    return {"runs": runs, "pages": POPULAR, **summarize_docs(runs)}


def summarize_docs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    per = {
        mode: median([r["origin_bytes_per_visitor"] for r in runs if r["mode"] == mode])
        for mode in MODES
    }
    return {
        "summary": {
            "origin_bytes_per_visitor": per,
            "ratio": ratio(per["planktos"], per["plain"]),
        },
    }


# --- sites and main -----------------------------------------------------------------------------


def build_pair(
    source: Path, work: Path, name: str, runtime: Sequence[str] = ()
) -> tuple[Path, Path]:
    """Two copies of ``source`` (symlinks followed): one built with --inject (and each
    ``--runtime NAME=VALUE`` of ``runtime``), one plain."""
    built, plain = work / f"{name}-built", work / f"{name}-plain"
    shutil.copytree(source, built, symlinks=False)
    shutil.copytree(source, plain, symlinks=False)
    build = [sys.executable, "-m", "planktos", "build", "--root", str(built)]
    build += [arg for setting in runtime for arg in ("--runtime", setting)]
    subprocess.run([*build, "--inject", "--quiet"], check=True)
    return built, plain


@contextmanager
def origins(built: Path, plain: Path, work: Path, name: str) -> Iterator[dict[str, Server]]:
    with (
        serve(built, work / f"{name}-planktos.log") as pk,
        serve(plain, work / f"{name}-plain.log") as pl,
    ):
        yield {"plain": pl, "planktos": pk}


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info(),
        "load_before": load(),
        "source": git_state(),
        "settings": {k: (shown(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    built, plain = build_pair(args.site, work, "site", args.runtime)
    async with async_playwright() as pw:
        browser = await launch(pw)
        result["chromium"] = browser.version
        await browser.close()
        with CpuMonitor() as cpu, origins(built, plain, work, "site") as servers:
            s = Setup(pw, servers, cpu)
            if "crowd" in args.cases:
                ports = {mode: port_of(server) for mode, server in servers.items()}
                with capped(ports, args.mbit, args.queue) as classes:
                    s.classes = classes
                    video = "media/mandelbrot-zoom.webm"
                    probe = servers["plain"].url + (
                        video if (plain / video).exists() else "index.html"
                    )
                    result["cap_check"] = timed_download(probe)
                    print(f"crowd: cap check {result['cap_check']}", flush=True)
                    result["crowd"] = await crowd_case(s, args)
                s.classes = {}
            if "quiet" in args.cases:
                result["quiet"] = await quiet_case(s, args)
            if "docs" in args.cases:
                docs_built, docs_plain = build_pair(args.docs, work, "docs", args.runtime)
                with origins(docs_built, docs_plain, work, "docs") as docs_servers:
                    result["docs"] = await docs_case(Setup(pw, docs_servers, cpu), args)
            result["machine_seconds"] = saturation([share for _, share in cpu.samples])
    result["load_after"] = load()
    return result


def fmt_ms(x: float | None, none: str = "failed") -> str:
    return none if x is None else f"{x:,.0f}"


def fmt_x(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def target(value: float | None, limit: float, valid: bool = True) -> str:
    if value is None:
        return "not measured"
    verdict = "met" if value <= limit else "missed"
    return verdict if valid else f"{verdict}, not valid (CPU saturated)"


def markdown(r: dict[str, Any]) -> str:
    rows = [
        f"## Flash crowd, quiet origin, docs site, {r['date']}",
        "",
        f"{describe(r['machine'])}; Chromium {r.get('chromium', '?')}; source {r['source']}. "
        f"Load average before: {r['load_before']}; after: {r['load_after']}. "
        "Machine CPU over the whole run: "
        f"{pct(r.get('machine_seconds', {}).get('saturated_share'))} of "
        f"{r.get('machine_seconds', {}).get('seconds', 0)} seconds at least 95 % busy "
        "(the machine is shared: other work counts too).",
        "",
    ]
    targets: list[tuple[str, str, str, str]] = []
    a = r["settings"]
    if "crowd" in r:
        c = r["crowd"]["summary"]
        valid = c["page_load_ratios_valid"]
        mark = "" if valid else " (CPU-bound: not valid)"
        cap = r["cap_check"]
        rows += [
            f"### Flash crowd: {a['visitors']} visitors {a['gap']} s apart, origin capped at "
            f"{a['mbit']} Mbit/s, medians of {a['rounds']} alternating rounds",
            "",
            f"Cap check: {cap['bytes']:,} B in {cap['seconds']} s = {cap['mbit_s']} Mbit/s. "
            f"Each visitor: home, gallery, video.html (plays {a['play']} s), then stays"
            + (f"; {a['dwell']} s on each page before the next." if a.get("dwell") else "."),
            "",
            "| measure | PLAIN | PLANKTOS | PLANKTOS / PLAIN |",
            "| --- | --- | --- | --- |",
        ]
        labels = {
            "gallery.html": "gallery load (ms)",
            "video.html": "video.html load (ms)",
            "first frame": "first video frame (ms)",
        }
        for m in r["crowd"]["measures"]:
            rows.append(
                f"| {labels.get(m, m)} | {fmt_ms(c['plain']['times_ms'][m])} | "
                f"{fmt_ms(c['planktos']['times_ms'][m])} | {fmt_x(c['ratios'][m])}{mark} |"
            )
        rows += [
            f"| origin bytes (access log, everything) | {c['plain']['origin_bytes']:,.0f} | "
            f"{c['planktos']['origin_bytes']:,.0f} | {fmt_x(c['ratios']['origin_bytes'])} |",
            f"| origin bytes on the wire (HTB class) | {c['plain']['origin_wire_bytes']:,.0f} | "
            f"{c['planktos']['origin_wire_bytes']:,.0f} | "
            f"{fmt_x(ratio(c['planktos']['origin_wire_bytes'], c['plain']['origin_wire_bytes']))}"
            " |",
            "| of which site files / web seed / scripts / manifest / torrents | "
            + " | ".join(
                " / ".join(f"{x or 0:,.0f}" for x in c[m]["origin_bytes_by_kind"].values())
                for m in MODES
            )
            + " | |",
            f"| bytes from peers | {c['plain']['from_peers']:,.0f} | "
            f"{c['planktos']['from_peers']:,.0f} | |",
            f"| visitors' CPU-seconds per visit | {c['plain']['visitors_cpu_s_per_visit']} | "
            f"{c['planktos']['visitors_cpu_s_per_visit']} | "
            f"{fmt_x(c['ratios']['visitors_cpu_s_per_visit'])} |",
            f"| seconds the machine was ≥ 95 % busy | {pct(c['plain']['saturated_share'])} | "
            f"{pct(c['planktos']['saturated_share'])} | |",
            "| video stalls once playing, all visitors and rounds (ms stalled) | "
            + " | ".join(
                f"{c[m].get('stalls', 'n/a')} ({c[m].get('stalled_ms', 'n/a'):,})" for m in MODES
            )
            + " | |",
            f"| failed steps (timeouts, errors) | {c['plain']['failed_steps']} | "
            f"{c['planktos']['failed_steps']} | |",
            "",
            "| round | mode | seconds | origin bytes | from peers | visitors' CPU-s | "
            "machine's busy CPU-s | machine ≥ 95 % busy |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for i, run_ in enumerate(r["crowd"]["runs"]):
            rows.append(
                f"| {i // 2 + 1} | {run_['mode']} | {run_['seconds']} | "
                f"{run_['origin_bytes']['total']:,} | {run_['from_peers']:,} | "
                f"{run_['visitors_cpu_s']} | {run_.get('machine_busy_cpu_s')} | "
                f"{pct(run_['machine']['saturated_share'])} |"
            )
        rows += [
            "",
            "Where the time went (medians over visitors and rounds, ms from navigation start;"
            " n/a: the page did not load it):",
            "",
            "| page: mark | PLAIN | PLANKTOS |",
            "| --- | --- | --- |",
        ]
        for key, value in c["planktos"].get("marks_ms", {}).items():
            rows.append(
                f"| {key.replace('_', ' ')} | {fmt_ms(c['plain']['marks_ms'].get(key), 'n/a')} | "
                f"{fmt_ms(value, 'n/a')} |"
            )
        rows.append("")
        targets += [
            (
                "crowd: origin bytes",
                "≤ 0.3x",
                fmt_x(c["ratios"]["origin_bytes"]),
                target(c["ratios"]["origin_bytes"], 0.3),
            ),
            (
                "crowd: median gallery load",
                "≤ 0.8x",
                fmt_x(c["ratios"]["gallery.html"]),
                target(c["ratios"]["gallery.html"], 0.8, valid),
            ),
            (
                "crowd: median first video frame",
                "≤ 1.0x",
                fmt_x(c["ratios"]["first frame"]),
                target(c["ratios"]["first frame"], 1.0, valid),
            ),
            (
                "crowd: visitor CPU per visit",
                "≤ 1.3x",
                fmt_x(c["ratios"]["visitors_cpu_s_per_visit"]),
                target(c["ratios"]["visitors_cpu_s_per_visit"], 1.3),
            ),
        ]
    if "quiet" in r:
        q = r["quiet"]["summary"]
        qvalid = q.get("page_load_ratios_valid", True)
        qmark = "" if qvalid else " (CPU-bound: not valid)"
        rows += [
            f"### Quiet origin (no cap, one visitor{rtt_note(a)}), medians of {a['rounds']} "
            "alternating rounds",
            "",
            "PLANKTOS first visit: one earlier visitor stays on video.html (a warm swarm). "
            "Repeat: the same pages again in the same tab. Seconds the machine was ≥ 95 % busy "
            f"during the measured visits: PLAIN {pct(q.get('saturated_share', {}).get('plain'))}"
            f", PLANKTOS {pct(q.get('saturated_share', {}).get('planktos'))}.",
            "",
            "| page (ms) | PLAIN first | PLANKTOS first | ratio | PLAIN repeat | "
            "PLANKTOS repeat | ratio |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for m in r["quiet"]["measures"]:
            f, p = q["first"], q["repeat"]
            rows.append(
                f"| {m} | {fmt_ms(f['times_ms']['plain'][m])} | "
                f"{fmt_ms(f['times_ms']['planktos'][m])} | {fmt_x(f['ratios'][m])} | "
                f"{fmt_ms(p['times_ms']['plain'][m])} | {fmt_ms(p['times_ms']['planktos'][m])} "
                f"| {fmt_x(p['ratios'][m])} |"
            )
        rows += [
            f"| median of the ratios | | | {fmt_x(q['first']['median_ratio'])}{qmark} | | | "
            f"{fmt_x(q['repeat']['median_ratio'])}{qmark} |",
            "",
        ]
        targets += [
            (
                "quiet: first visit, warm swarm",
                "≤ 1.2x",
                fmt_x(q["first"]["median_ratio"]),
                target(q["first"]["median_ratio"], 1.2, qvalid),
            ),
            (
                "quiet: repeat visit",
                "≤ 1.0x",
                fmt_x(q["repeat"]["median_ratio"]),
                target(q["repeat"]["median_ratio"], 1.0, qvalid),
            ),
        ]
    if "docs" in r:
        d = r["docs"]["summary"]
        per = d["origin_bytes_per_visitor"]
        rows += [
            f"### Docs site: {shown(Path(a['docs']))}, {a['docs_visitors']} visitors "
            f"{a['docs_gap']} s apart, 3 pages each ({a.get('docs_dwell', 0)} s on each), no cap",
            "",
            "Each visitor reads index.html and two of: "
            + ", ".join(r["docs"]["pages"])
            + ". Origin bytes per visitor, runtime, manifest and torrents included.",
            "",
            "| measure | PLAIN | PLANKTOS | PLANKTOS / PLAIN |",
            "| --- | --- | --- | --- |",
            f"| origin bytes per visitor | {per['plain']:,.0f} | {per['planktos']:,.0f} | "
            f"{fmt_x(d['ratio'])} |",
        ]
        for run_ in r["docs"]["runs"]:
            if run_["mode"] == "planktos":
                ob = run_["origin_bytes"]
                n = len(run_["visitors"])
                rows.append(
                    "| PLANKTOS run, per visitor: scripts / manifest / torrents / web seed / "
                    f"site files / from peers | | {ob.get('scripts', 0) // n:,} / "
                    f"{ob.get('manifest', 0) // n:,} / {ob.get('torrents', 0) // n:,} / "
                    f"{ob.get('web_seed', 0) // n:,} / {ob.get('site_files', 0) // n:,} / "
                    f"{run_['from_peers'] // n:,} | |"
                )
        rows.append("")
        targets.append(("docs: origin bytes", "≤ 0.7x", fmt_x(d["ratio"]), target(d["ratio"], 0.7)))
    rows += ["### Targets (issue 11)", "", "| target | limit | measured | |",
             "| --- | --- | --- | --- |"]  # fmt: skip
    rows += [f"| {t} | {lim} | {got} | {verdict} |" for t, lim, got, verdict in targets]
    errors = [
        e
        for case in ("crowd", "quiet", "docs")
        for run_ in r.get(case, {}).get("runs", [])
        for v in run_.get("visitors", [run_.get("first"), run_.get("repeat")]) or []
        if v
        for e in v["errors"]
    ]
    if errors:
        rows += ["", f"Errors seen in pages: {len(errors)} (see crowd.json)."]
    return "\n".join(rows) + "\n"


def rtt_note(settings: dict[str, Any]) -> str:
    rtt = settings.get("rtt") or 0
    return f", {rtt:g} ms round trip to the origin" if rtt else ""


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 visitors, 1 round, no docs")
    parser.add_argument("--visitors", type=int, help="crowd visitors (default 6)")
    parser.add_argument("--gap", type=float, help="seconds between arrivals (default 4)")
    parser.add_argument("--rounds", type=int, help="rounds per mode (default 2)")
    parser.add_argument("--play", type=float, help="seconds of video played (default 10)")
    parser.add_argument(
        "--dwell",
        type=float,
        default=0.0,
        help="crowd: seconds each visitor reads a page before the next (default 0: at once)",
    )
    parser.add_argument("--mbit", type=float, default=16.0, help="origin cap, Mbit/s")
    parser.add_argument("--queue", type=int, default=256_000, help="cap's queue, bytes")
    parser.add_argument("--cases", help="comma-separated: crowd,quiet,docs (default all)")
    parser.add_argument(
        "--rtt",
        type=float,
        default=0.0,
        help="quiet: ms added to each round trip to the origin (a delaying relay; default 0)",
    )
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs site to serve")
    parser.add_argument("--docs-visitors", type=int, default=10)
    parser.add_argument("--docs-gap", type=float, default=2.0)
    parser.add_argument("--docs-rounds", type=int, default=1)
    parser.add_argument("--docs-dwell", type=float, default=3.0, help="seconds on each page")
    parser.add_argument("--site", type=Path, default=DEMO_SITE, help="the crowd's site")
    parser.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a runtime setting for the PLANKTOS builds (planktos build --runtime), repeatable",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where crowd.* go")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="measure nothing: summarize the raw runs of this crowd.json again and rewrite "
        "crowd.json, crowd.md and crowd.png in --out",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        result = json.loads(args.from_json.read_text())
        for case, summarize in SUMMARIES.items():
            if case in result:
                result[case].update(summarize(result[case]["runs"]))
        write(result, args.out)
        return 0
    q = args.quick
    args.visitors = args.visitors or (2 if q else 6)
    args.gap = args.gap if args.gap is not None else (1.0 if q else 4.0)
    args.rounds = args.rounds or (1 if q else 2)
    args.play = args.play if args.play is not None else (1.0 if q else 10.0)
    args.cases = (args.cases or ("crowd,quiet" if q else "crowd,quiet,docs")).split(",")
    if not only_loopback():
        print(
            "crowd_bench: run inside a network namespace holding only loopback, as root: "
            "scripts/in-netns .venv/bin/python bench/crowd_bench.py",
            file=sys.stderr,
        )
        return 2
    if "docs" in args.cases and not (args.docs / "index.html").is_file():
        print(
            f"crowd_bench: {args.docs}/index.html missing; install it with "
            "scripts/ensure-debian-packages python3-doc:/usr/share/doc/python3/html/index.html",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="planktos-crowd-") as tmp:
        os.environ.setdefault("PLANKTOS_CACHE_DIR", str(Path(tmp) / "cache"))
        result = asyncio.run(run(args, Path(tmp)))
    result["python"] = platform.python_version()
    write(result, args.out)
    return 0


SUMMARIES = {"crowd": summarize_crowd_case, "quiet": summarize_quiet, "docs": summarize_docs}


def write(result: dict[str, Any], out: Path) -> None:
    from plots import plot_crowd

    out.mkdir(parents=True, exist_ok=True)
    (out / "crowd.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "crowd.md").write_text(markdown(result))
    plot_crowd(result, out / "crowd.png")
    print(markdown(result))


if __name__ == "__main__":
    raise SystemExit(main())
