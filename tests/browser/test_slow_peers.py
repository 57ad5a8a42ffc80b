"""Slow peers cost a page at most 300 ms (DESIGN.md, invariant 1), for real.

The only peer is libtorrent (tests/browser/libtorrent_peer.py), met over WebRTC through the
site's tracker. It holds, and announces, every piece of the shards of page B and of the video,
but uploads a few bytes a second: a visitor's agent is connected to it, so the worker sees
peers holding every piece the page needs and asks them first (docs/runtime.md, "Choosing a
source"). A page with several files, and ranges of the large file, must still arrive whole
and right, no later than the same loaded plainly from the origin beside them plus 300 ms (and
a tolerance: ``TOLERANCE_MS``), with not one byte from peers.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.browsers import Visitors
from tests.browser.libtorrent_peer import LibtorrentPeer, until_in_swarm
from tests.browser.origin import Origin
from tests.browser.probes import (
    agent_counters,
    arrive,
    expected_state,
    fetch_seen,
    page_state,
    sha256,
    sw_stats,
    until_held,
)
from tests.browser.sites import PAGE_B, VIDEO, Built, planktos_build, site_files

pytestmark = pytest.mark.p2p

FILES = site_files()
TRICKLE = 4  # bytes per second libtorrent may upload, per torrent: a 16 KiB block in an hour
# Files read through the worker from tab 1 so that its agent joins the shards of page B and
# the video (a file taken from the origin makes the agent join its shard), without storing
# any piece of page B: post-06 lies in pieces 1-2 of the pages' shard (both pages' HTML in
# piece 0), post-10 in piece 0 of the shard of b.css and b.png (pieces 26-36), video/index.html
# in piece 4 of the scripts' shard (b.js: pieces 1-3), and the video's first piece.
JOIN = ("blog/post-06.html", "blog/post-10.html", "video/index.html")
PLAIN_LOADS = 3
COOLDOWN_S = 5.5  # js/sw/meter.js COOLDOWN_MS, and a margin
# The large file's ranges: 12 pieces (768 KiB, past the one-piece windows of the first 512
# KiB) from these pieces (the agent holds piece 0): two timed with peers asked, and one while
# the worker does not ask peers (a failure keeps it from them for 5 s), for the report.
RANGE_PIECES = 12
TIMED_RANGES = (2, 30)
NO_PEERS_RANGE = 14
# The invariant allows 300 ms over plain HTTP, and a silent peer costs that by design (the
# first-byte bound of peers not yet proven, or the small-file hedge: js/sw/meter.js). What a
# worker-controlled load costs with no peer asked comes on top (a read through the worker, a
# SHA-256 of every file or piece, background writes to the store), and noise: a 2-core machine
# runs the server, libtorrent and the browser. Measured over 12 runs of this test: the range
# with no peer asked 30-140 ms (plain 10-115 ms); with the silent peer, the page 385-480 ms in
# Chromium (plain median 60-170 ms) and 490-670 ms in Firefox (plain median 130-205 ms, so up
# to 460 ms over it), the range 330-375 ms in Chromium and 335-540 ms in Firefox. 250 ms
# covers that, with the least of two range samples (noise only adds time). The protection
# removed, the page took 2.7 s and the range 2.6 s (first-byte bound and hedge set to the
# 2.5 s deadline); without the cooldown for held pieces, the page took 700 ms more than plain
# and the range 30 s.
TOLERANCE_MS = 250

NAV_MS_JS = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  return n.loadEventStart - n.startTime;
}"""

TIMED_FETCH_JS = """async ([url, range]) => {
  const t0 = performance.now();
  const r = await fetch(url, { headers: { Range: range }, cache: "no-store" });
  const body = new Uint8Array(await r.arrayBuffer());
  const ms = performance.now() - t0;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  return {
    ms, status: r.status, source: r.headers.get("x-planktos-source"),
    sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
  };
}"""


@pytest.fixture
def libtorrent_peer() -> Iterator[LibtorrentPeer]:
    peer = LibtorrentPeer()
    yield peer
    peer.close()


async def load_ms(visitors: Visitors, name: str, url: str, **kind: bool) -> float:
    """Open ``url`` in a new visitor (cold HTTP cache) and return its load time in ms."""
    visitor = await visitors.new(name, **kind)
    page = await visitor.open(url)
    assert await page_state(page, PAGE_B) == expected_state(PAGE_B)
    ms = float(await page.evaluate(NAV_MS_JS))
    await visitor.close()
    return ms


async def test_a_peer_that_holds_everything_and_sends_nothing_costs_at_most_300_ms(
    visitors: Visitors, origin: Origin, built: Built, libtorrent_peer: LibtorrentPeer
) -> None:
    # No prefetch: the visitor's agent would take page B from libtorrent while it still
    # sends (until it holds every piece), and page B would be a store hit.
    planktos_build(built.root, "--runtime", "prefetch_bytes=0", "--quiet")
    tracker = origin.url.replace("http://", "ws://") + "planktos/tracker"
    handles = [
        libtorrent_peer.seed_shard(built, shard_id, tracker)
        for shard_id in {built.entry(k)["shard"] for k in (*PAGE_B.files, PAGE_B.key, VIDEO)}
    ]
    for handle in handles:
        await libtorrent_peer.until_seeding(handle)
    for handle in handles:
        await until_in_swarm(origin, str(handle.info_hash()), 1)

    visitor = await visitors.new("V")
    tab1 = await arrive(visitor, origin.url)
    for key in JOIN:
        assert (await fetch_seen(tab1, origin.url + key)).sha256 == sha256(FILES[key])
    pl = built.shard(VIDEO)["piece_length"]
    head = await fetch_seen(tab1, origin.url + VIDEO, headers={"Range": f"bytes=0-{pl - 1}"})
    assert head.sha256 == sha256(FILES[VIDEO][:pl])
    everything = [PAGE_B.key, *PAGE_B.files, VIDEO]
    await until_held(tab1, built, everything)
    # Slow from now on (slow from the start, it would not even say what it holds).
    for handle in handles:
        handle.set_upload_limit(TRICKLE)

    # A range of the large file, from a second tab (the agent stays in the first), on a
    # page of a shard libtorrent does not seed: its own navigation does not ask peers.
    plain = await visitors.new("plain", service_workers=False)
    plain_tab = await plain.open(origin.url + PAGE_B.url)
    tab2 = await visitor.context.new_page()
    await tab2.goto(origin.url + "blog/post-07.html")
    video_url = origin.url + VIDEO

    async def timed_range(tab: Any, piece: int) -> dict[str, Any]:
        first, last = piece * pl, (piece + RANGE_PIECES) * pl - 1
        got = await tab.evaluate(TIMED_FETCH_JS, [video_url, f"bytes={first}-{last}"])
        assert got["sha256"] == sha256(FILES[VIDEO][first : last + 1]), (first, last)
        return dict(got)

    # Each sample faces the peer: it still holds every piece (WebTorrent drops a wire that
    # left a request unanswered for 30 s; a sample after that would not ask it at all).
    plain_range = [await timed_range(plain_tab, TIMED_RANGES[0])]
    await until_held(tab1, built, [VIDEO], timeout=0)
    planktos_range = [await timed_range(tab2, TIMED_RANGES[0])]
    no_peers = await timed_range(tab2, NO_PEERS_RANGE)
    plain_range.append(await timed_range(plain_tab, TIMED_RANGES[0]))

    # Page B, once the failure above no longer keeps the worker from peers.
    await asyncio.sleep(COOLDOWN_S)
    responses: dict[str, Any] = {}
    # The page's responses (the worker's own fetches are seen too, not from a worker).
    visitor.context.on("response", lambda r: r.from_service_worker and responses.update({r.url: r}))
    plain_ms = [await load_ms(visitors, "plain-1", origin.url + PAGE_B.url, service_workers=False)]
    tab3 = await visitor.context.new_page()
    await until_held(tab1, built, everything, timeout=0)
    await tab3.goto(origin.url + PAGE_B.url)
    assert await page_state(tab3, PAGE_B) == expected_state(PAGE_B)
    planktos_ms = float(await tab3.evaluate(NAV_MS_JS))
    for i in range(2, PLAIN_LOADS + 1):
        plain_ms.append(
            await load_ms(visitors, f"plain-{i}", origin.url + PAGE_B.url, service_workers=False)
        )

    # The second range, peers asked again.
    await asyncio.sleep(COOLDOWN_S)
    await until_held(tab1, built, [VIDEO], timeout=0)
    planktos_range.append(await timed_range(tab2, TIMED_RANGES[1]))
    plain_range.append(await timed_range(plain_tab, TIMED_RANGES[1]))
    assert {r["source"] for r in planktos_range} == {"origin"}, planktos_range

    # Every byte right, none from peers.
    for key in (PAGE_B.key, *PAGE_B.files):
        url = origin.url + key.removesuffix("index.html")
        assert sha256(await responses[url].body()) == sha256(FILES[key]), url
    stats = await sw_stats(tab1)
    agent = await agent_counters(tab1, origin.url)
    assert stats["bytes"]["peer"] == 0 and agent["bytesFromPeers"] == 0, (stats, agent)

    plain_page = [round(ms) for ms in sorted(plain_ms)]
    report = (
        f"page: Planktos {planktos_ms:.0f} ms, plain {plain_page} ms; "
        f"range: Planktos {[round(r['ms']) for r in planktos_range]} ms, "
        f"plain {[round(r['ms']) for r in plain_range]} ms, "
        f"Planktos not asking peers {no_peers['ms']:.0f} ms"
    )
    print(report)
    bound = 300 + TOLERANCE_MS
    assert planktos_ms <= statistics.median(plain_ms) + bound, report
    least = min(r["ms"] for r in planktos_range)
    assert least <= statistics.median(r["ms"] for r in plain_range) + bound, report
