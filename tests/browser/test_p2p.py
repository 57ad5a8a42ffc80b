"""Peer-to-peer between real browsers: visitors (contexts of one Chromium) exchange the site's
pieces over WebRTC through the tracker of ``planktos serve``, and the origin's access log
shows who did not need it.

Visitors keep their landing tab open: it runs their agent (the WebTorrent client), which a
page being navigated away from could not be. Pages are opened in a second tab.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.browser.browsers import Visitor, Visitors
from tests.browser.origin import Hit, Kind, Origin, attribute, describe, file_bytes
from tests.browser.probes import (
    Sources,
    agent_counters,
    arrive,
    expected_state,
    page_state,
    until_page_complete,
)
from tests.browser.sites import PAGE_A, PAGES, Built, planktos_build
from tests.browser.sites import Page as SitePage

pytestmark = pytest.mark.p2p

WEBTORRENT = Path(__file__).resolve().parents[2] / "node_modules/webtorrent/dist/webtorrent.min.js"
SUBRESOURCES = tuple(f for page in PAGES for f in page.files)
PAGE_KEYS = tuple(k for page in PAGES for k in (page.key, *page.files))


async def browse(visitor: Visitor, origin: Origin, pages: Iterable[SitePage]) -> Page:
    """Arrive (the landing tab runs the agent), then open each page in a second tab."""
    landing = await arrive(visitor, origin.url)
    tab = await visitor.context.new_page()
    for page in pages:
        await tab.goto(origin.url + page.url)
        await until_page_complete(tab, page)
        assert await page_state(tab, page) == expected_state(page), page.key
    await tab.close()
    return landing


def infohashes(built: Built, keys: Iterable[str]) -> set[str]:
    return {built.shard(k)["infohash"] for k in keys}


async def until_peers(origin: Origin, swarms: set[str], count: int, timeout: float = 20) -> None:
    """Wait until the tracker counts exactly ``count`` peers in each of ``swarms``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        tracker = origin.stats()["tracker"]
        assert isinstance(tracker, dict)
        sizes = tracker["peers_per_swarm"]
        if all(sizes.get(ih, 0) == count for ih in swarms):
            return
        assert asyncio.get_running_loop().time() < deadline, (sizes, swarms, count)
        await asyncio.sleep(0.1)


def origin_bytes(hits: list[Hit], keys: Iterable[str]) -> dict[str, int]:
    sent = file_bytes(hits)
    return {k: sent[k] for k in keys}


async def test_second_visitor_takes_the_files_from_the_first(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    first = await browse(await visitors.new("A"), origin, PAGES)
    await until_peers(origin, infohashes(built, PAGE_KEYS), 1)
    before = len(origin.settle())
    visitor_b = await visitors.new("B")
    sources = Sources(visitor_b.context)
    second = await browse(visitor_b, origin, PAGES)
    hits = attribute(origin.settle()[before:], built)
    # B's origin traffic: its first page (before the worker took control), the runtime, the
    # manifest and torrents; not one byte of the pages' files.
    assert origin_bytes(hits, PAGE_KEYS) == dict.fromkeys(PAGE_KEYS, 0), describe(hits)
    allowed = {Kind.RUNTIME, Kind.MANIFEST, Kind.TORRENT, Kind.TRACKER, Kind.STATS}
    other = [h for h in hits if h.kind not in allowed and h.entry.path != "/"]
    assert other == [], describe(other)
    # Through B's agent, or from B's store for a file whose pieces B took for another one.
    assert set(sources.of(origin.url, PAGE_KEYS).values()) <= {"agent", "store"}
    took = await agent_counters(second, origin.url)
    assert took["bytesFromPeers"] >= sum(len((built.root / k).read_bytes()) for k in PAGE_KEYS)
    assert took["bytesFromWebSeed"] == 0
    assert (await agent_counters(first, origin.url))["bytesUploaded"] >= took["bytesFromPeers"]


async def test_third_visitor_gets_everything_from_the_second_once_the_first_left(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    swarms = infohashes(built, PAGE_KEYS)
    visitor_a = await visitors.new("A")
    await browse(visitor_a, origin, PAGES)
    await until_peers(origin, swarms, 1)
    await browse(await visitors.new("B"), origin, PAGES)
    await until_peers(origin, swarms, 2)
    await visitor_a.close()
    await until_peers(origin, swarms, 1)
    before = len(origin.settle())
    visitor_c = await visitors.new("C")
    sources = Sources(visitor_c.context)
    third = await browse(visitor_c, origin, PAGES)
    hits = attribute(origin.settle()[before:], built)
    assert origin_bytes(hits, PAGE_KEYS) == dict.fromkeys(PAGE_KEYS, 0), describe(hits)
    assert set(sources.of(origin.url, PAGE_KEYS).values()) <= {"agent", "store"}
    assert (await agent_counters(third, origin.url))["bytesFromWebSeed"] == 0


SEEDER_HTML = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module">
import WebTorrent from "./webtorrent.min.js";
// A peer that claims every piece and sends bytes that are all wrong (its store is garbage).
class GarbageStore {
  constructor(chunkLength, opts) { this.chunkLength = chunkLength; this.length = opts.length; }
  put(index, buf, cb) { queueMicrotask(() => cb(null)); }
  get(index, opts, cb) {
    if (typeof opts === "function") { cb = opts; opts = {}; }
    const piece = Math.min(this.chunkLength, this.length - index * this.chunkLength);
    const offset = (opts && opts.offset) || 0;
    const length = (opts && opts.length) || piece - offset;
    queueMicrotask(() => cb(null, new Uint8Array(length).fill(0x5a)));
  }
  close(cb) { queueMicrotask(() => cb && cb(null)); }
  destroy(cb) { queueMicrotask(() => cb && cb(null)); }
}
const client = new WebTorrent({ tracker: { rtcConfig: { iceServers: [] } }, dht: false });
client.on("error", () => {});
window.seedGarbage = async (torrentUrl, tracker) => {
  const bytes = new Uint8Array(await (await fetch(torrentUrl)).arrayBuffer());
  return await new Promise((resolve) => client.add(
    bytes, { store: GarbageStore, skipVerify: true, announce: [tracker] },
    (t) => { t.on("warning", () => {}); resolve(t.infoHash); }));
};
window.uploaded = () => client.torrents.reduce((n, t) => n + t.uploaded, 0);
</script>
"""


async def test_corrupt_peer_cannot_corrupt_the_page(
    visitors: Visitors, origin: Origin, built: Built, site_root: Path
) -> None:
    assert WEBTORRENT.is_file(), f"{WEBTORRENT} missing: run make runtime (npm ci)"
    # Served by the origin but in no manifest; the seeder's context never meets the worker.
    (site_root / "seeder").mkdir()
    (site_root / "seeder/index.html").write_text(SEEDER_HTML, encoding="utf-8")
    shutil.copy(WEBTORRENT, site_root / "seeder/webtorrent.min.js")
    keys = (PAGE_A.key, *PAGE_A.files)
    swarms = infohashes(built, keys)
    seeder = await (await visitors.new("M")).open(origin.url + "seeder/")
    await seeder.wait_for_function("typeof window.seedGarbage === 'function'")
    tracker = origin.url.replace("http://", "ws://") + "planktos/tracker"
    for shard in {built.shard(k)["torrent"] for k in keys}:
        await seeder.evaluate(
            "([t, tr]) => window.seedGarbage(t, tr)", [origin.url + shard, tracker]
        )
    await until_peers(origin, swarms, 1)

    victim = await visitors.new("V")
    landing = await arrive(victim, origin.url)
    page = await victim.context.new_page()
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
    assert await seeder.evaluate("window.uploaded()") > 0  # garbage did reach the victim
    counters = await agent_counters(landing, origin.url)
    assert counters["piecesRejected"] >= 1, counters


async def test_origin_down_missing_files_come_from_a_peer(
    visitors: Visitors, origin: Origin, site_root: Path, tmp_path: Path
) -> None:
    """A returning visitor, the origin down: what its store lacks comes from another visitor.

    The tracker runs apart from the origin (its own ``planktos serve``), as a site would
    deploy it to survive the origin.
    """
    (tmp_path / "tracker-root").mkdir()
    tracker = Origin(tmp_path / "tracker-root", tmp_path / "tracker.log", "--open-tracker")
    tracker.start()
    try:
        ws = tracker.url.replace("http://", "ws://") + "planktos/tracker"
        planktos_build(site_root, "--tracker", ws, "--quiet")
        built = Built.load(site_root)
        page_a, page_b = PAGES
        a_keys = (page_a.key, *page_a.files)
        b_keys = (page_b.key, *page_b.files)
        assert infohashes(built, a_keys) <= infohashes(built, b_keys), "B needs A's torrents"
        await browse(await visitors.new("A"), origin, PAGES)
        await until_peers(tracker, infohashes(built, PAGE_KEYS), 1)
        visitor_b = await visitors.new("B")
        landing = await browse(visitor_b, origin, [page_b])
        origin.stop()
        sources = Sources(visitor_b.context)
        tab = await visitor_b.context.new_page()
        await tab.goto(origin.url + page_a.url)
        await until_page_complete(tab, page_a)
        assert await page_state(tab, page_a) == expected_state(page_a)
        assert set(sources.of(origin.url, a_keys).values()) <= {"store", "agent"}
        assert (await agent_counters(landing, origin.url))["bytesFromPeers"] > 0
    finally:
        tracker.stop()
        print(tracker.output())


# A connection with Save-Data on, as Chromium reports it on a phone; desktop Chromium has no
# switch for it, so the page sees this one instead (set before any script of the page runs).
SAVE_DATA_JS = """Object.defineProperty(Navigator.prototype, "connection", {
  configurable: true,
  get: () => ({ saveData: true, type: "wifi", effectiveType: "4g",
                addEventListener() {}, removeEventListener() {} }),
});"""


async def test_visitor_saving_data_uploads_nothing(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    saver = await visitors.new("A")
    await saver.context.add_init_script(SAVE_DATA_JS)
    first = await browse(saver, origin, PAGES)
    assert await first.evaluate("navigator.connection.saveData") is True
    await until_peers(origin, infohashes(built, PAGE_KEYS), 1)  # A is there, choking all
    second = await browse(await visitors.new("B"), origin, PAGES)
    assert (await agent_counters(first, origin.url))["bytesUploaded"] == 0
    took = await agent_counters(second, origin.url)
    assert took["bytesFromPeers"] == 0 and took["bytesFromWebSeed"] > 0
