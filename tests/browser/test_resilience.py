"""Resilience: never worse than no Planktos. Origin down, tracker down, no service workers."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tests.browser.browsers import Visitors
from tests.browser.origin import Kind, Origin, attribute, describe, file_bytes
from tests.browser.probes import (
    AGENT,
    Sources,
    arrive,
    expected_state,
    page_state,
    sw_stats,
    until,
    until_agent,
    until_page_complete,
)
from tests.browser.sites import PAGE_A, PAGE_B, Built, planktos_build, site_files

FILES = site_files()
PAGE_FILES = (PAGE_A.key, *PAGE_A.files)


async def test_origin_down_reload_renders_the_page_from_the_store(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    """The visitor's tabs stay open (agent running) while the origin, tracker included, dies."""
    visitor = await visitors.new("A")
    landing = await arrive(visitor, origin.url)
    page = await visitor.context.new_page()
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    # The agent joined the swarms of the page's files (it reports each once ready): a torrent
    # still being added as the tracker dies would try to connect to it (a console error).
    swarms = {built.shard(k)["infohash"] for k in PAGE_FILES}
    for _ in range(150):
        if swarms <= set((await sw_stats(landing))["holding"]):
            break
        await asyncio.sleep(0.1)
    origin.stop()
    sources = Sources(visitor.context)
    await page.reload()
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
    assert sources.of(origin.url, PAGE_FILES) == dict.fromkeys(PAGE_FILES, "store")


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_tracker_unreachable_pages_load_with_no_console_error(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    planktos_build(site_root, "--tracker", f"ws://127.0.0.1:{closed_port()}/", "--quiet")
    built = Built.load(site_root)
    visitor = await visitors.new("A")
    await arrive(visitor, origin.url)
    before = len(origin.settle())
    page = await visitor.context.new_page()
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
    hits = attribute(origin.settle()[before:], built)
    sent = file_bytes(hits)
    assert all(sent[k] >= len(FILES[k]) for k in PAGE_A.files), describe(hits)


async def until_tracked(tracker: Origin, timeout: float = 30) -> None:
    """Wait until the tracker counts a peer in some swarm."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stats = tracker.stats()["tracker"]
        assert isinstance(stats, dict)
        if any(stats["peers_per_swarm"].values()):
            return
        assert asyncio.get_running_loop().time() < deadline, stats
        await asyncio.sleep(0.2)


@pytest.mark.firefox_flaky(
    "in Firefox a page's agent opens a WebSocket to the stopped tracker (console: \"Firefox "
    'can\'t establish a connection to the server at ws://..." or "... was interrupted while '
    "the page was loading\"), in each of 3 runs; Chromium's run shows none; not explained yet"
)
async def test_tracker_stopped_mid_session_pages_load_with_no_console_error(
    visitors: Visitors, origin: Origin, separate_tracker: Origin
) -> None:
    """The tracker (its own server, as a site would run it) stops while a page is open: the
    page's agent drops it at once instead of letting WebTorrent reconnect (each failed
    attempt is a console error); a reload and a navigation load; when the tracker is back, the
    agent announces again."""
    tracker = separate_tracker
    page = await arrive(await visitors.new("A"), origin.url)
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    await until_agent(page)
    await until_tracked(tracker)  # this page's agent is connected
    tracker.stop()
    agent = origin.url + AGENT
    await until(page, "async (url) => (await import(url)).counters.trackersLost > 0", agent)
    await page.reload()
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
    await page.goto(origin.url + PAGE_B.url)
    await until_page_complete(page, PAGE_B)
    assert await page_state(page, PAGE_B) == expected_state(PAGE_B)
    tracker.start()
    await until_tracked(tracker)  # probed again (5 s backoff) and announced


async def test_service_workers_blocked_plain_site(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    visitor = await visitors.new("A", service_workers=False)
    landing = await visitor.open(origin.url)
    page = await visitor.context.new_page()
    response = await page.goto(origin.url + PAGE_A.url)
    assert response is not None and not response.from_service_worker
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
    assert await landing.evaluate("navigator.serviceWorker.controller") is None
    hits = attribute(origin.settle(), built)
    sent = file_bytes(hits, (Kind.CONTENT,))
    assert all(sent[k] == len(FILES[k]) for k in PAGE_FILES), describe(hits)
    assert not [h for h in hits if h.kind in (Kind.WEBSEED, Kind.TORRENT)], describe(hits)
