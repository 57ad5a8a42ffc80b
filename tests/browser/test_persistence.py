"""Persistence: the store survives reloads and browser restarts (a profile kept on disk).

Every test runs twice: with the store in OPFS, and in IndexedDB with OPFS made unavailable
(the ``store_kind`` fixture, conftest.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest
from playwright.async_api import Page, Playwright

from tests.browser.browsers import NO_OPFS_JS, ErrorLog, Visitors, launch_persistent
from tests.browser.origin import Kind, Origin, attribute, describe, file_bytes
from tests.browser.probes import (
    STORE,
    Sources,
    arrive,
    expected_state,
    fetch_seen,
    opfs_list,
    page_state,
    sha256,
    until_agent,
    until_agent_loaded,
    until_page_complete,
    until_stored,
    with_store_root,
)
from tests.browser.sites import PAGE_A, PAGES, VIDEO, Built, site_files

FILES = site_files()
QUOTA_OVERRIDE = (
    "shrinks the origin's quota (Chrome DevTools Protocol Storage.overrideQuotaForOrigin); "
    "WebDriver BiDi cannot set a quota, and filling Firefox's real one would take minutes"
)

PAGE_FILES = (PAGE_A.key, *PAGE_A.files)


@pytest.fixture(params=["opfs", "idb"])
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


async def store_in_use(page: Page) -> dict[str, Any]:
    """Whether the page has OPFS, and the IndexedDB databases of its origin."""
    return cast(
        dict[str, Any],
        await page.evaluate(
            """async () => ({
              opfs: typeof navigator.storage.getDirectory === "function",
              databases: (await indexedDB.databases()).map((d) => d.name).sort(),
            })"""
        ),
    )


async def test_store_survives_a_reload(visitors: Visitors, origin: Origin, built: Built) -> None:
    visitor = await visitors.new("A")
    await arrive(visitor, origin.url)
    page = await visitor.context.new_page()
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    await until_agent_loaded(page)  # see there: Firefox reports an agent load a reload cut
    before = len(origin.settle())
    sources = Sources(visitor.context)
    await page.reload()
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
    assert sources.of(origin.url, PAGE_FILES) == dict.fromkeys(PAGE_FILES, "store")
    hits = attribute(origin.settle()[before:], built)
    # At most the first visit's boundary pieces, assembled in the background (ranges of the
    # files' neighbours), may still be on their way.
    assert sum(file_bytes(hits).values()) <= built.boundary(PAGE_FILES), describe(hits)


async def test_store_survives_a_browser_restart(
    playwright: Playwright,
    errors: ErrorLog,
    origin: Origin,
    built: Built,
    tmp_path: Path,
    store_kind: str,
    browser_name: str,
) -> None:
    profile = tmp_path / "profile"
    init = NO_OPFS_JS if store_kind == "idb" else None
    context = await launch_persistent(playwright, profile, errors, "A", init, browser_name)
    try:
        landing = await context.new_page()
        await landing.goto(origin.url)
        await until_agent(landing)
        page = await context.new_page()
        await page.goto(origin.url + PAGE_A.url)
        await until_page_complete(page, PAGE_A)
        # The worker keeps what it took from the origin after answering (in the background):
        # what survives a restart is what was written before it.
        digests = [built.entry(k)["sha256"] for k in PAGE_FILES]
        await until_stored(page, [STORE, "f"], digests)
    finally:
        await context.close()  # Chromium exits; the profile stays on disk
    before = len(origin.settle())
    context = await launch_persistent(playwright, profile, errors, "A again", init, browser_name)
    try:
        sources = Sources(context)
        page = await context.new_page()
        response = await page.goto(origin.url + PAGE_A.url)
        assert response is not None and response.from_service_worker
        await until_page_complete(page, PAGE_A)
        assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
        assert sources.of(origin.url, PAGE_FILES) == dict.fromkeys(PAGE_FILES, "store")
        assert await opfs_list(page, STORE, "p")  # the agent's pieces are still there
        idb = store_kind == "idb"
        assert await store_in_use(page) == {
            "opfs": not idb,
            "databases": ["planktos"] if idb else [],
        }
    finally:
        await context.close()
    hits = attribute(origin.settle()[before:], built)
    # The HTML may be fetched once more: a navigation that has to start the worker makes
    # Chromium (ServiceWorkerAutoPreload) ask the network for it meanwhile.
    sent = file_bytes(hits, (Kind.CONTENT, Kind.WEBSEED))
    assert {k: sent[k] for k in PAGE_A.files} == dict.fromkeys(PAGE_A.files, 0), describe(hits)


async def settled(page: Page, js: str, timeout: float = 15) -> Any:
    """The value of ``js`` in ``page`` once two readings 0.3 s apart agree."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = await page.evaluate(js)
    while True:
        await asyncio.sleep(0.3)
        now = await page.evaluate(js)
        if now == last:
            return now
        assert asyncio.get_running_loop().time() < deadline, "still changing"
        last = now


PIECE_SIZES_JS = with_store_root("""async () => {
  const out = {};
  const root = await STORE_ROOT;
  const top = await (await root.getDirectoryHandle("planktos-v1")).getDirectoryHandle("p");
  // Evicted between the listing and a read (a whole directory, or a file): absent, as it
  // should be; eviction runs beside the page.
  const gone = (err) => {
    if (err.name !== "NotFoundError") throw err;
  };
  for await (const [infohash, dir] of top.entries()) {
    try {
      for await (const [name, file] of dir.entries()) {
        try {
          out[infohash + "/" + name] = (await file.getFile()).size;
        } catch (err) {
          gone(err);
        }
      }
    } catch (err) {
      gone(err);
    }
  }
  return out;
}""")


@pytest.mark.chromium_only(QUOTA_OVERRIDE)
async def test_quota_full_old_pieces_are_evicted_and_pages_still_load(
    visitors: Visitors, origin: Origin, built: Built, store_kind: str
) -> None:
    """Quota set just above what two pages use: a 3 MB file then evicts older pieces."""
    if store_kind == "idb":
        pytest.skip(
            "Chromium does not apply Storage.overrideQuotaForOrigin to the IndexedDB writes of "
            "a store already in use (3.5 MB written under a 1.3 MB quota), so no write fails; "
            "eviction on QuotaExceededError is the same code for both stores"
        )
    visitor = await visitors.new("A")
    await arrive(visitor, origin.url)
    tab = await visitor.context.new_page()
    for site_page in PAGES:
        await tab.goto(origin.url + site_page.url)
        await until_page_complete(tab, site_page)
    before = set(await opfs_list(tab, STORE, "p"))
    usage = (await tab.evaluate("navigator.storage.estimate()"))["usage"]
    cdp = await visitor.context.new_cdp_session(tab)
    await cdp.send(
        "Storage.overrideQuotaForOrigin",
        {"origin": origin.url.rstrip("/"), "quotaSize": usage + 500_000},
    )
    seen = await fetch_seen(tab, origin.url + VIDEO)
    assert (seen.status, seen.sha256) == (200, sha256(FILES[VIDEO]))
    sizes = await settled(tab, PIECE_SIZES_JS)  # the background writes are over
    after = set(await opfs_list(tab, STORE, "p"))
    assert before - after, f"nothing evicted: {sorted(after)}"
    assert [k for k, n in sizes.items() if n == 0] == [], "pieces must be whole or absent"
    await tab.goto(origin.url + PAGE_A.url)
    await until_page_complete(tab, PAGE_A)
    assert await page_state(tab, PAGE_A) == expected_state(PAGE_A)
