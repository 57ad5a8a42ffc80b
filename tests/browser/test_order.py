"""Where bytes come from: the store first, then peers when the agent's peers hold the pieces,
else the origin at once (docs/runtime.md, "Choosing a source").

The worker names the source of each answer in ``X-Planktos-Source``; the access log shows
what the origin really sent. Here every visitor is alone (peer-to-peer is in test_p2p.py).
"""

from __future__ import annotations

import pytest

from tests.browser.browsers import Visitors
from tests.browser.origin import Kind, Origin, attribute, describe, file_bytes
from tests.browser.probes import (
    AGENT,
    STOP_WORKERS,
    Sources,
    agent_counters,
    arrive,
    expected_state,
    fetch_seen,
    page_state,
    sha256,
    stop_service_workers,
    sw_stats,
    until,
    until_page_complete,
)
from tests.browser.sites import LATE, PAGE_A, Built, site_files

FILES = site_files()
PAGE_FILES = (PAGE_A.key, *PAGE_A.files)


def boundary(built: Built) -> int:
    """The most the origin may send for page a once it is stored (``Built.boundary``)."""
    return built.boundary(PAGE_FILES)


async def test_alone_with_an_agent_running_files_come_from_the_origin_at_once(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    """No peer holds anything: the worker does not wait for one, and asks the origin for the
    files at their own URLs, once each. The web seed sends at most the pieces the files share
    with their neighbours (the agent completes them, to seed them)."""
    visitor = await visitors.new("A")
    await arrive(visitor, origin.url)  # this tab runs the agent
    before = len(origin.settle())
    sources = Sources(visitor.context)
    page = await visitor.context.new_page()
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
    assert sources.of(origin.url, PAGE_FILES) == dict.fromkeys(PAGE_FILES, "origin")
    hits = attribute(origin.settle()[before:], built)
    assert sum(file_bytes(hits, (Kind.WEBSEED,)).values()) <= boundary(built), describe(hits)
    direct = file_bytes(hits, (Kind.CONTENT,))
    whole = {k: len(FILES[k]) for k in PAGE_FILES}
    assert {k: direct[k] for k in PAGE_FILES} == whole, describe(hits)


async def test_second_visit_is_served_from_the_store(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    visitor = await visitors.new("A")
    await arrive(visitor, origin.url)
    first = await visitor.context.new_page()
    await first.goto(origin.url + PAGE_A.url)
    await until_page_complete(first, PAGE_A)
    await first.close()
    before = len(origin.settle())
    sources = Sources(visitor.context)
    again = await visitor.context.new_page()
    await again.goto(origin.url + PAGE_A.url)
    await until_page_complete(again, PAGE_A)
    assert await page_state(again, PAGE_A) == expected_state(PAGE_A)
    assert sources.of(origin.url, PAGE_FILES) == dict.fromkeys(PAGE_FILES, "store")
    hits = attribute(origin.settle()[before:], built)
    # At most the first visit's boundary pieces, assembled in the background (ranges of the
    # files' neighbours), may still be on their way.
    assert sum(file_bytes(hits).values()) <= boundary(built), describe(hits)


@pytest.mark.chromium_only(STOP_WORKERS)
async def test_navigation_with_no_tab_open_works(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    """No agent alive and the worker stopped: it starts for the navigation and asks the origin
    for the page and its files at once; it waits for no agent."""
    visitor = await visitors.new("A")
    landing = await arrive(visitor, origin.url)
    blank = await visitor.context.new_page()  # about:blank: no page of the site is open
    await landing.close()
    await stop_service_workers(blank)
    before = len(origin.settle())
    sources = Sources(visitor.context)
    response = await blank.goto(origin.url + PAGE_A.url)
    assert response is not None and response.from_service_worker
    await until_page_complete(blank, PAGE_A)
    assert await page_state(blank, PAGE_A) == expected_state(PAGE_A)
    assert sources.of(origin.url, PAGE_FILES) == dict.fromkeys(PAGE_FILES, "origin")
    hits = attribute(origin.settle()[before:], built)
    # The HTML may come twice: a navigation that has to start the worker makes Chromium
    # (ServiceWorkerAutoPreload) ask the network for it meanwhile.
    direct = file_bytes(hits, (Kind.CONTENT,))
    assert {k: direct[k] for k in PAGE_A.files} == {k: len(FILES[k]) for k in PAGE_A.files}
    assert sum(file_bytes(hits, (Kind.WEBSEED,)).values()) <= boundary(built), describe(hits)
    assert direct[PAGE_A.key] in (len(FILES[PAGE_A.key]), 2 * len(FILES[PAGE_A.key]))


@pytest.mark.chromium_only(STOP_WORKERS)
async def test_page_loads_from_the_store_with_the_origin_stopped(
    visitors: Visitors, origin: Origin
) -> None:
    visitor = await visitors.new("A")
    landing = await arrive(visitor, origin.url)
    first = await visitor.context.new_page()
    await first.goto(origin.url + PAGE_A.url)
    await until_page_complete(first, PAGE_A)
    blank = await visitor.context.new_page()
    await first.close()
    await landing.close()
    await stop_service_workers(blank)
    origin.stop()
    sources = Sources(visitor.context)
    await blank.goto(origin.url + PAGE_A.url)
    await until_page_complete(blank, PAGE_A)
    assert await page_state(blank, PAGE_A) == expected_state(PAGE_A)
    assert sources.of(origin.url, PAGE_FILES) == dict.fromkeys(PAGE_FILES, "store")


async def test_agent_moves_to_the_next_tab_when_the_leader_closes(
    visitors: Visitors, origin: Origin
) -> None:
    """One WebTorrent client per profile: the tab holding the lock runs it, then the next."""
    visitor = await visitors.new("A")
    leader = await arrive(visitor, origin.url)
    follower = await visitor.context.new_page()
    await follower.goto(origin.url + PAGE_A.url)
    await until_page_complete(follower, PAGE_A)
    agent = origin.url + AGENT
    await until(follower, "async (url) => !!(await import(url)).counters", agent)
    assert (await agent_counters(follower, origin.url))["leader"] is False
    await leader.close()
    await until(follower, "async (url) => (await import(url)).counters.leader", agent)
    await sw_stats(follower)  # after the new leader's port in the worker's queue
    seen = await fetch_seen(follower, origin.url + LATE)
    assert seen.from_sw and seen.sha256 == sha256(FILES[LATE])
    assert seen.headers["x-planktos-source"] == "origin"  # alone: no peer holds it
