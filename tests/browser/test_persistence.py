"""Persistence: the store survives reloads and browser restarts (a profile kept on disk)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Playwright

from tests.browser.browsers import ErrorLog, Visitors, launch_persistent
from tests.browser.origin import Kind, Origin, attribute, describe, file_bytes
from tests.browser.probes import (
    STORE,
    Sources,
    arrive,
    expected_state,
    opfs_list,
    page_state,
    until_agent,
    until_page_complete,
)
from tests.browser.sites import PAGE_A, Built

PAGE_FILES = (PAGE_A.key, *PAGE_A.files)


async def test_store_survives_a_reload(visitors: Visitors, origin: Origin, built: Built) -> None:
    visitor = await visitors.new("A")
    await arrive(visitor, origin.url)
    page = await visitor.context.new_page()
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    before = len(origin.settle())
    sources = Sources(visitor.context)
    await page.reload()
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
    assert sources.of(origin.url, PAGE_FILES) == dict.fromkeys(PAGE_FILES, "store")
    hits = attribute(origin.settle()[before:], built)
    assert not file_bytes(hits), describe(hits)


async def test_store_survives_a_browser_restart(
    playwright: Playwright, errors: ErrorLog, origin: Origin, built: Built, tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    context = await launch_persistent(playwright, profile, errors, "A")
    try:
        landing = await context.new_page()
        await landing.goto(origin.url)
        await until_agent(landing)
        page = await context.new_page()
        await page.goto(origin.url + PAGE_A.url)
        await until_page_complete(page, PAGE_A)
    finally:
        await context.close()  # Chromium exits; the profile stays on disk
    before = len(origin.settle())
    context = await launch_persistent(playwright, profile, errors, "A again")
    try:
        sources = Sources(context)
        page = await context.new_page()
        response = await page.goto(origin.url + PAGE_A.url)
        assert response is not None and response.from_service_worker
        await until_page_complete(page, PAGE_A)
        assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
        assert sources.of(origin.url, PAGE_FILES) == dict.fromkeys(PAGE_FILES, "store")
        assert await opfs_list(page, STORE, "p")  # the agent's pieces are still there
    finally:
        await context.close()
    hits = attribute(origin.settle()[before:], built)
    # The HTML may be fetched once more: a navigation that has to start the worker makes
    # Chromium (ServiceWorkerAutoPreload) ask the network for it meanwhile.
    sent = file_bytes(hits, (Kind.CONTENT, Kind.WEBSEED))
    assert {k: sent[k] for k in PAGE_A.files} == dict.fromkeys(PAGE_A.files, 0), describe(hits)
