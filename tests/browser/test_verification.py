"""Verification: no byte reaches a page unless it matches the manifest's SHA-256.

Corrupt data is planted where the runtime looks for bytes: in the store (OPFS, written over
by the test with bytes of the same length) and in the web seed (the build's hard link
replaced by a file of the same length and wrong bytes). The page still gets the right
bytes, and the rejection is counted. The tests that plant bytes in the store run twice: with
the store in OPFS, and in IndexedDB with OPFS made unavailable (``store_kind``, conftest.py).
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from tests.browser.browsers import Visitors
from tests.browser.origin import Origin
from tests.browser.probes import (
    STOP_WORKERS,
    STORE,
    arrive,
    expected_state,
    fetch_seen,
    opfs_overwrite,
    page_state,
    sha256,
    stop_service_workers,
    sw_stats,
    until_page_complete,
    until_stored,
)
from tests.browser.sites import PAGE_A, VIDEO, Built, site_files

FILES = site_files()


@pytest.fixture(params=["opfs", "idb"])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


def covering(built: Built, key: str, start: int = 0, end: int | None = None) -> list[int]:
    """Indexes of the pieces of ``key``'s shard holding bytes start..end of the file."""
    entry, shard = built.entry(key), built.shard(key)
    last = entry["length"] - 1 if end is None else end
    pl = shard["piece_length"]
    return list(range((entry["offset"] + start) // pl, (entry["offset"] + last) // pl + 1))


async def page_a_loaded(visitors: Visitors, origin: Origin) -> Page:
    """A visitor whose store holds page A (the landing tab runs the agent)."""
    visitor = await visitors.new("A")
    await arrive(visitor, origin.url)
    page = await visitor.context.new_page()
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    return page


@pytest.mark.chromium_only(STOP_WORKERS)
async def test_tampered_stored_file_is_rejected(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    page = await page_a_loaded(visitors, origin)
    digest = built.entry(PAGE_A.css)["sha256"]
    await until_stored(page, [STORE, "f"], [digest])
    await opfs_overwrite(page, [STORE, "f", digest], 0x41)
    await stop_service_workers(page)  # a running worker answers from the copy it verified
    before = (await sw_stats(page))["rejected"]
    seen = await fetch_seen(page, origin.url + PAGE_A.css)
    assert seen.from_sw and (seen.status, seen.sha256) == (200, sha256(FILES[PAGE_A.css]))
    after = (await sw_stats(page))["rejected"]
    assert after["count"] >= before["count"] + 1
    assert after["store"] >= before["store"] + len(FILES[PAGE_A.css])


@pytest.mark.chromium_only(STOP_WORKERS)
async def test_every_stored_copy_tampered_the_right_bytes_still_arrive(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    """The whole file and every piece holding it: the worker rejects both, then asks on."""
    page = await page_a_loaded(visitors, origin)
    digest = built.entry(PAGE_A.js)["sha256"]
    infohash = built.shard(PAGE_A.js)["infohash"]
    pieces = [str(i) for i in covering(built, PAGE_A.js)]
    await until_stored(page, [STORE, "f"], [digest])
    await until_stored(page, [STORE, "p", infohash], pieces)
    await opfs_overwrite(page, [STORE, "f", digest], 0x42)
    for piece in pieces:
        await opfs_overwrite(page, [STORE, "p", infohash, piece], 0x43)
    await stop_service_workers(page)
    before = (await sw_stats(page))["rejected"]
    seen = await fetch_seen(page, origin.url + PAGE_A.js)
    assert seen.from_sw and (seen.status, seen.sha256) == (200, sha256(FILES[PAGE_A.js]))
    assert seen.headers["x-planktos-source"] in ("peer", "origin")
    after = (await sw_stats(page))["rejected"]
    assert after["count"] >= before["count"] + 2  # the file, then the file cut from its pieces
    reloaded = await page.reload()
    assert reloaded is not None
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)


async def test_tampered_stored_piece_of_a_large_file_is_rejected(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    page = await page_a_loaded(visitors, origin)
    infohash = built.shard(VIDEO)["infohash"]
    pl = built.shard(VIDEO)["piece_length"]
    start, end = pl // 2, 3 * pl + 99  # pieces 0..3, partly
    want = FILES[VIDEO][start : end + 1]
    headers = {"Range": f"bytes={start}-{end}"}
    first = await fetch_seen(page, origin.url + VIDEO, headers=headers)
    assert (first.status, first.sha256) == (206, sha256(want))
    await until_stored(page, [STORE, "p", infohash], ["0", "1", "2", "3"])
    await opfs_overwrite(page, [STORE, "p", infohash, "2"], 0x44)
    before = (await sw_stats(page))["rejected"]
    seen = await fetch_seen(page, origin.url + VIDEO, headers=headers)
    assert seen.from_sw and (seen.status, seen.sha256) == (206, sha256(want))
    assert seen.headers["content-range"] == f"bytes {start}-{end}/{len(FILES[VIDEO])}"
    after = (await sw_stats(page))["rejected"]
    assert after["count"] >= before["count"] + 1  # + 1 more if the agent read it from disk
    assert after["store"] == before["store"] + pl
