"""Prefetch (DESIGN.md, "A controlled request", step 5; docs/runtime.md, "Prefetch"): while a
visitor reads a page, its agent has the worker fetch the pages that page links to, and the
files those pages load, from peers only; following a link then finds them in the store.
Nothing is prefetched from the origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tests.browser.browsers import Visitors
from tests.browser.origin import Kind, Origin, attribute, describe
from tests.browser.probes import (
    AGENT,
    PREFETCHED,
    WAIT_S,
    arrive,
    expected_state,
    page_state,
    sw_stats,
    until,
    until_page_complete,
)
from tests.browser.sites import (
    LATE,
    PAGE_A,
    PAGE_B,
    PAGES,
    VIDEO,
    Built,
    planktos_build,
    replace_file,
    site_files,
)
from tests.browser.test_p2p import browse, infohashes, origin_bytes, until_peers
from tests.browser.test_updates import until_build

FILES = site_files()
PAGE_KEYS = tuple(k for p in PAGES for k in (p.key, *p.files))


def with_prefetch(site_root: Path) -> Built:
    """The test site rebuilt with prefetch on (4 MiB a page), whatever the default."""
    planktos_build(site_root, "--quiet", "--runtime", f"prefetch_bytes={4 << 20}")
    return Built.load(site_root)


async def test_linked_pages_come_from_peers_while_reading_then_from_the_store(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    built = with_prefetch(site_root)
    # A reads pages a and b and stays on b: its agent seeds both pages' files.
    await browse(await visitors.new("A"), origin, PAGES)
    await until_peers(origin, infohashes(built, PAGE_KEYS), 1)
    before = len(origin.settle())
    home = await arrive(await visitors.new("B"), origin.url)
    # B reads the landing page, which links to a/, b/ and video/, until its agent's prefetch
    # is done.
    await until(home, PREFETCHED, origin.url + AGENT)
    hits = attribute(origin.settle()[before:], built)
    linked = (*PAGE_KEYS, "video/index.html", VIDEO)
    # Not a byte of them from the origin: A's pages from A, the video page from nobody
    # (A never opened it, so no peer holds it: it is not prefetched at all).
    assert origin_bytes(hits, linked) == dict.fromkeys(linked, 0), describe(hits)
    wanted = (PAGE_B.key, *PAGE_B.files)
    assert (await sw_stats(home))["bytes"]["peer"] >= sum(len(FILES[k]) for k in wanted)

    # B follows the link to b/: the page and every file of it from the store (the worker's
    # counters: nothing more from peers or the origin, the page's bytes more from the store).
    prefetched = (await sw_stats(home))["bytes"]
    before = len(origin.settle())
    await home.goto(origin.url + PAGE_B.url)
    await until_page_complete(home, PAGE_B)
    assert await page_state(home, PAGE_B) == expected_state(PAGE_B)
    after = (await sw_stats(home))["bytes"]
    assert (after["peer"], after["origin"]) == (prefetched["peer"], prefetched["origin"])
    assert after["store"] - prefetched["store"] >= sum(len(FILES[k]) for k in wanted)
    hits = attribute(origin.settle()[before:], built)
    assert origin_bytes(hits, wanted) == dict.fromkeys(wanted, 0), describe(hits)


async def test_a_lone_visitor_prefetches_nothing_from_the_origin(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    built = with_prefetch(site_root)
    before = len(origin.settle())
    home = await arrive(await visitors.new("A"), origin.url)
    await until(home, PREFETCHED, origin.url + AGENT)
    hits = attribute(origin.settle()[before:], built)
    linked = (PAGE_A.key, *PAGE_A.files, PAGE_B.key, *PAGE_B.files, "video/index.html", VIDEO)
    assert origin_bytes(hits, linked) == dict.fromkeys(linked, 0), describe(hits)
    assert (await sw_stats(home))["bytes"]["peer"] == 0


async def test_a_lone_visitor_stops_waiting_for_peers_once_the_tracker_says_it_is_alone(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    """A prefetch waits for peers only while some may still come: alone in every swarm (the
    tracker's count), the pass ends at once, not after the deadline for each linked page."""
    planktos_build(site_root, "--quiet", "--runtime", "deadline_ms=60000")
    home = await arrive(await visitors.new("A"), origin.url)
    await until(home, PREFETCHED, origin.url + AGENT)  # within WAIT_S, far under 60 s


@contextlib.asynccontextmanager
async def silent_peer(origin: Origin, hashes: set[str]) -> AsyncIterator[None]:
    """A peer in each swarm of ``hashes`` that the tracker counts, claiming every piece, but
    that never answers the offers relayed to it: the swarm is never met in full."""
    url = origin.url.replace("http", "ws", 1) + "planktos/tracker"
    peer = (b"-SILENT-" + b"s" * 12).decode("latin-1")
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        for info_hash in hashes:
            binary = bytes.fromhex(info_hash).decode("latin-1")
            announce = {"action": "announce", "info_hash": binary, "peer_id": peer,
                        "numwant": 0, "event": "started", "uploaded": 0, "downloaded": 0,
                        "left": 0, "offers": []}  # fmt: skip
            await ws.send_str(json.dumps(announce))
            reply = await ws.receive_json(timeout=10)
            assert "failure reason" not in reply, reply
        yield


async def test_a_new_build_takes_over_while_prefetches_wait_for_peers(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    """A new build's worker takes over only once the current one has no request in hand
    (Chromium): prefetches that wait for peers give way to it instead of holding it back."""
    planktos_build(site_root, "--quiet", "--runtime", "deadline_ms=60000")
    built = Built.load(site_root)
    linked = infohashes(built, PAGE_KEYS) - infohashes(built, ["index.html"])
    async with silent_peer(origin, linked):
        await _takes_over(visitors, origin, site_root, built, linked)


async def _takes_over(
    visitors: Visitors, origin: Origin, site_root: Path, built: Built, linked: set[str]
) -> None:
    home = await arrive(await visitors.new("A"), origin.url)
    # A peer that never answers is in the linked pages' swarms: their prefetch waits for it up
    # to the deadline; it is under way once their torrents were asked for.
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not any(
        h.kind is Kind.TORRENT and any(i in h.entry.path for i in linked)
        for h in attribute(origin.settle(), built)
    ):
        assert asyncio.get_running_loop().time() < deadline, "no prefetch under way"
        await asyncio.sleep(0.2)
    assert (await sw_stats(home))["build"] == built.build_id
    replace_file(site_root / LATE, b"late, version 2\n")
    planktos_build(site_root, "--quiet", "--runtime", "deadline_ms=60000")
    rebuilt = Built.load(site_root)
    await home.reload()
    await until_build(home, rebuilt.build_id)
