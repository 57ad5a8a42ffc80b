"""Peer-to-peer between real browsers: visitors (contexts of one Chromium) exchange the site's
pieces over WebRTC through the tracker of ``planktos serve``, and the origin's access log
shows who did not need it.

Each visitor browses in ONE tab, as people do: every page it navigates to runs its own agent
(the WebTorrent client; the previous page's died with it). The service worker never waits
for that agent: a read goes to peers when the agent's connected peers hold its pieces, else
to the origin at once, and the agent then joins that shard's swarm (docs/runtime.md,
"Choosing a source"). So a page's first files come from the origin, and what the page asks
for once its agent's peers hold it comes from them: the tests below wait for that moment
(``until_held``, a condition, not a time) and then ask for files. The tab stays on its last
page, whose agent keeps seeding for the visitors who come next.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.browser.browsers import Visitor, Visitors
from tests.browser.origin import Hit, Origin, attribute, describe, file_bytes
from tests.browser.probes import (
    STOP_WORKERS,
    STORE,
    agent_counters,
    arrive,
    expected_state,
    opfs_list,
    page_state,
    sha256,
    stop_service_workers,
    sw_stats,
    until_agent,
    until_held,
    until_page_complete,
    with_store_root,
)
from tests.browser.sites import PAGE_A, PAGE_B, PAGES, Built, planktos_build, site_files
from tests.browser.sites import Page as SitePage

pytestmark = pytest.mark.p2p

WEBTORRENT = Path(__file__).resolve().parents[2] / "node_modules/webtorrent/dist/webtorrent.min.js"
FILES = site_files()
SUBRESOURCES = tuple(f for page in PAGES for f in page.files)
PAGE_KEYS = tuple(k for page in PAGES for k in (page.key, *page.files))


@dataclass
class Tab:
    """A visitor's one tab, and what the agents of the pages it left had counted."""

    page: Page
    base: str
    left: Counter[str] = field(default_factory=Counter)

    async def goto(self, page: SitePage) -> None:
        """Navigate to ``page`` in this tab and check that it arrived whole."""
        self.left.update(await agent_counters(self.page, self.base))
        await self.page.goto(self.base + page.url)
        await until_page_complete(self.page, page)
        assert await page_state(self.page, page) == expected_state(page), page.key

    async def counters(self) -> Counter[str]:
        """The agents' counters summed over every page this tab showed."""
        now = Counter(self.left)
        now.update(await agent_counters(self.page, self.base))
        return now


async def browse(visitor: Visitor, origin: Origin, pages: Iterable[SitePage]) -> Tab:
    """Arrive on the home page, then navigate to each page in that same tab; the tab stays on
    the last page, with its agent running."""
    tab = Tab(await arrive(visitor, origin.url), origin.url)
    for page in pages:
        await tab.goto(page)
    await until_agent(tab.page)
    return tab


def infohashes(built: Built, keys: Iterable[str]) -> set[str]:
    return {built.shard(k)["infohash"] for k in keys}


FETCH_JS = """async (url) => {
  const r = await fetch(url);
  const digest = await crypto.subtle.digest("SHA-256", await r.arrayBuffer());
  return [r.headers.get("x-planktos-source"),
          [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")];
}"""


async def fetch_in_page(page: Page, base: str, keys: Iterable[str]) -> dict[str, str]:
    """Fetch each of ``keys`` from ``page`` (a subresource of it, through the worker); check
    its bytes; return the worker's source of each."""
    sources = {}
    for key in keys:
        source, digest = await page.evaluate(FETCH_JS, base + key)
        assert digest == sha256(FILES[key]), key
        sources[key] = source
    return sources


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


async def test_files_the_agents_peers_hold_come_from_them_not_the_origin(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    await browse(await visitors.new("A"), origin, PAGES)
    await until_peers(origin, infohashes(built, PAGE_KEYS), 1)
    visitor_b = await visitors.new("B")
    # B's page a takes its files from wherever is ready (the origin, before its agent is up)
    # and its agent joins their swarms, which also hold page b's files.
    second = await browse(visitor_b, origin, [PAGE_A])
    wanted = PAGE_B.files
    swarms = infohashes(built, wanted)
    assert swarms <= infohashes(built, PAGE_A.files), "page a's swarms hold page b's files"
    await until_held(second.page, built, wanted)
    before = len(origin.settle())
    got = await fetch_in_page(second.page, origin.url, wanted)
    hits = attribute(origin.settle()[before:], built)
    assert got == dict.fromkeys(wanted, "peer"), got
    assert origin_bytes(hits, wanted) == dict.fromkeys(wanted, 0), describe(hits)


async def test_third_visitor_gets_everything_from_the_second_once_the_first_left(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    visitor_a = await visitors.new("A")
    await browse(visitor_a, origin, PAGES)
    await until_peers(origin, infohashes(built, PAGE_KEYS), 1)
    await browse(await visitors.new("B"), origin, PAGES)
    await visitor_a.close()
    wanted = PAGE_B.files
    swarms = infohashes(built, wanted)
    # B's last page (b) seeds what B stored, its own files among them.
    await until_peers(origin, swarms, 1)
    third = await browse(await visitors.new("C"), origin, [PAGE_A])
    await until_held(third.page, built, wanted)
    before = len(origin.settle())
    got = await fetch_in_page(third.page, origin.url, wanted)
    hits = attribute(origin.settle()[before:], built)
    assert got == dict.fromkeys(wanted, "peer"), got
    assert origin_bytes(hits, wanted) == dict.fromkeys(wanted, 0), describe(hits)


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
    # The seeder claims every piece of the swarms of both pages' files.
    keys = (*PAGE_A.files, *PAGE_B.files)
    swarms = infohashes(built, keys)
    seeder = await (await visitors.new("M")).open(origin.url + "seeder/")
    await seeder.wait_for_function("typeof window.seedGarbage === 'function'")
    tracker = origin.url.replace("http://", "ws://") + "planktos/tracker"
    for shard in {built.shard(k)["torrent"] for k in keys}:
        await seeder.evaluate(
            "([t, tr]) => window.seedGarbage(t, tr)", [origin.url + shard, tracker]
        )
    await until_peers(origin, swarms, 1)

    victim = await browse(await visitors.new("V"), origin, [PAGE_A])
    await until_held(victim.page, built, PAGE_B.files)  # the liar claims everything
    # Page b's files from the peer that holds them all: its bytes fail verification, and
    # the right ones come from the origin (fetch_in_page checks every byte).
    got = await fetch_in_page(victim.page, origin.url, PAGE_B.files)
    assert set(got.values()) == {"origin"}, got
    assert await seeder.evaluate("window.uploaded()") > 0  # garbage did reach the victim
    counters = await victim.counters()
    assert counters["piecesRejected"] >= 1, counters
    assert (await sw_stats(victim.page))["bytes"]["peer"] == 0


async def test_origin_down_missing_files_come_from_a_peer(
    visitors: Visitors, origin: Origin, site_root: Path, separate_tracker: Origin
) -> None:
    """A returning visitor, the origin down: what its store lacks comes from another visitor.

    The tracker runs apart from the origin (its own ``planktos serve``), as a site would
    deploy it to survive the origin.
    """
    built = Built.load(site_root)
    page_a, page_b = PAGES
    a_keys = (page_a.key, *page_a.files)
    b_keys = (page_b.key, *page_b.files)
    assert infohashes(built, a_keys) <= infohashes(built, b_keys), "B needs A's torrents"
    await browse(await visitors.new("A"), origin, PAGES)
    await until_peers(separate_tracker, infohashes(built, PAGE_KEYS), 1)
    visitor_b = await visitors.new("B")
    tab = await browse(visitor_b, origin, [page_b])
    # Page a's HTML and script: every piece of them is whole at A (a page's boundary pieces
    # are always assembled; the script's are shared with page b's). Others may not be: the
    # pieces an image shares with files nobody fetched are not worth fetching to seed it
    # (docs/runtime.md, "Seeding what the origin sent").
    wanted = (page_a.key, page_a.js)
    try:
        await until_held(tab.page, built, wanted)
    except AssertionError:
        # About 1 run in 5 in Chromium, on the runtime of ecc2cc0 too: B's agent never got
        # A's bitfield in one of the swarms it joined. Two causes were found and fixed since
        # (8d59eb8: stored torrents added by magnet, both agents waiting for metadata;
        # 7f82d24: joins dropped while a navigation left the port unconfirmed); the retry
        # stays until CI shows it unused. A new agent (the page reloaded) gets a wire; a
        # broken swarm would fail again.
        await tab.page.reload()
        await until_agent(tab.page)
        await until_held(tab.page, built, wanted)
    origin.stop()
    # The origin fails at once: the worker waits for peers instead.
    got = await fetch_in_page(tab.page, origin.url, wanted)
    # B may hold the page itself: it fetched part of it to seed b/index.html's pieces.
    assert set(got.values()) <= {"store", "peer"} and got[page_a.js] == "peer", got
    assert (await sw_stats(tab.page))["bytes"]["peer"] >= len(FILES[page_a.js])


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
    assert await first.page.evaluate("navigator.connection.saveData") is True
    # A is there, choking all: in the swarms its last page's agent read from (a metered
    # visitor does not seed what it stored before).
    await until_peers(origin, infohashes(built, PAGES[-1].files), 1)
    second = await browse(await visitors.new("B"), origin, PAGES)
    await until_agent(second.page)
    assert (await first.counters())["bytesUploaded"] == 0
    assert (await second.counters())["bytesFromPeers"] == 0
    worker = await sw_stats(second.page)
    assert worker["bytes"]["peer"] == 0 and worker["bytes"]["origin"] > 0


@pytest.mark.chromium_only(STOP_WORKERS)
async def test_a_stored_torrent_is_seeded_with_its_metadata_from_the_origin(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    """A torrent the agent seeds from its store before any read names it (js/agent/seed.js),
    without a kept .torrent, takes its metadata from the origin. Added by magnet it waited for
    a peer's metadata: two agents in that state were seen connected in a swarm, neither ready.
    """
    # No prefetch: it would name the linked pages' torrents before the seeding does.
    planktos_build(site_root, "--quiet", "--runtime", "prefetch_bytes=0")
    built = Built.load(site_root)
    tab = await browse(await visitors.new("A"), origin, PAGES)
    pages_only = infohashes(built, PAGE_KEYS) - infohashes(built, ["index.html"])
    assert pages_only
    await until_peers(origin, pages_only, 1)
    forget_torrents = """async (store) => {
      const root = await (await STORE_ROOT).getDirectoryHandle(store);
      await root.removeEntry("t", { recursive: true });
    }"""
    await tab.page.evaluate(with_store_root(forget_torrents), STORE)
    # A restarted worker has no reads to name them to the next agent either.
    await stop_service_workers(tab.page)
    await tab.page.goto(origin.url)
    await until_agent(tab.page)
    # The agent keeps the .torrent it got (from the origin, or the HTTP cache); by magnet it
    # would keep one only once a peer sent the metadata, and A is alone.
    wanted = sorted(f"{ih}.torrent" for ih in pages_only)
    deadline = asyncio.get_running_loop().time() + 20
    while not set(wanted) <= set(kept := await opfs_list(tab.page, STORE, "t")):
        assert asyncio.get_running_loop().time() < deadline, (kept, wanted)
        await asyncio.sleep(0.2)
