"""Stale visitors: a site that removes Planktos by deleting ``planktos/`` and ``planktos.sw.js``
(rather than deploying ``planktos build --uninstall``) must not leave its returning visitors
on old pages from their store. The worker reads 404 of both as the kill switch: it unregisters,
deletes its store and caches, and lets the page load from the server (js/sw/manifest.js). The
origin down (connections refused) still serves the store: tests/browser/test_resilience.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser.browsers import Visitors
from tests.browser.origin import Origin
from tests.browser.probes import (
    STORE,
    arrive,
    opfs_list,
    sw_stats,
    until,
    until_page_complete,
)
from tests.browser.sites import HEAD, PAGE_A, Built, replace_file

NEW_PAGE = HEAD + "<title>plain a</title><h1>a, without Planktos</h1>\n"


def remove_planktos(root: Path) -> None:
    """Delete what ``planktos build`` published, as a site owner removing it by hand would."""
    shutil.rmtree(root / "planktos")
    for name in ("planktos.sw.js", "planktos.sw.js.br", "planktos.sw.js.gz"):
        (root / name).unlink(missing_ok=True)


@pytest.mark.firefox_flaky(
    "once in CI (2026-12-07): Firefox logged 'Failed to load .../planktos/agent.<hash>.js. A "
    "ServiceWorker intercepted the request and encountered an unexpected error', as it does "
    "for a worker response a reloading page abandons (the kill switch reloads it)"
)
async def test_site_that_deleted_planktos_gets_its_returning_visitors_back_plain(
    visitors: Visitors, origin: Origin, built: Built, site_root: Path
) -> None:
    visitor = await visitors.new("A")
    page = await arrive(visitor, origin.url)
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    assert (await sw_stats(page))["bytes"]["origin"] > 0
    assert await opfs_list(page, STORE)  # the store holds the visit
    # Leave for a page without install.js: no agent runs (one would fetch torrents the site
    # is about to delete: 404s in the console) when the site changes.
    await page.goto(origin.url + "blog/post-00.html")
    assert await page.title() == "post 0"

    remove_planktos(site_root)
    replace_file(site_root / PAGE_A.key, NEW_PAGE.encode())
    # The worker answers this navigation with the server's page (the fetch it makes once it
    # knows), not the stored one.
    await page.goto(origin.url + PAGE_A.url)
    assert await page.title() == "plain a"
    await until(page, "async () => (await navigator.serviceWorker.getRegistrations()).length === 0")
    await until(
        page, "async () => (await caches.keys()).every((name) => !name.startsWith('planktos'))"
    )
    await until(
        page,
        """async () => {
          const root = await navigator.storage.getDirectory();
          for await (const name of root.keys()) if (name.startsWith("planktos")) return false;
          return true;
        }""",
    )
    # From now on the page is plain: no worker answers it.
    again = await page.reload()
    assert again is not None and not again.from_service_worker
    assert await page.evaluate("navigator.serviceWorker.controller") is None
    assert await page.title() == "plain a"
