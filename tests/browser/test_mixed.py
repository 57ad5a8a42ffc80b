"""Peer-to-peer across browsers: a visitor in the other browser (Firefox for the Chromium run,
Chromium for the Firefox run) serves this browser's visitor over WebRTC, so both mixed
directions run. The other browser is launched for the test, beside the session's."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Playwright

from tests.browser.browsers import ErrorLog, Visitors, launch
from tests.browser.firefox import SW_PRELUDE, Firefox
from tests.browser.origin import Origin, attribute, describe
from tests.browser.probes import until_held
from tests.browser.sites import PAGE_A, PAGE_B, PAGES, Built, add_worker_prelude
from tests.browser.test_p2p import (
    PAGE_KEYS,
    browse,
    fetch_in_page,
    infohashes,
    origin_bytes,
    until_peers,
)

pytestmark = pytest.mark.p2p


@pytest.fixture
def site_root(built_template: Path, tmp_path: Path) -> Path:
    """The test site, its worker with Firefox's error hooks whichever browser leads."""
    root = Path(shutil.copytree(built_template, tmp_path / "site"))
    add_worker_prelude(root, SW_PRELUDE)
    return root


@pytest_asyncio.fixture(loop_scope="session")
async def other_visitors(
    browser_name: str, playwright: Playwright, errors: ErrorLog, tmp_path: Path
) -> AsyncIterator[Visitors]:
    """Visitors of the browser this test's run is not about, watched like the others."""
    other = await Firefox.launch(tmp_path / "firefox") if browser_name == "chromium" else None
    chromium = await launch(playwright) if other is None else None
    made = Visitors(other or chromium, errors)  # type: ignore[arg-type]
    yield made
    await made.close()
    await (other or chromium).close()  # type: ignore[union-attr]


async def test_a_visitor_in_the_other_browser_serves_this_ones_files(
    visitors: Visitors, other_visitors: Visitors, origin: Origin, built: Built
) -> None:
    await browse(await other_visitors.new(f"A ({other_visitors.name})"), origin, PAGES)
    await until_peers(origin, infohashes(built, PAGE_KEYS), 1)
    second = await browse(await visitors.new(f"B ({visitors.name})"), origin, [PAGE_A])
    wanted = PAGE_B.files
    await until_held(second.page, built, wanted)
    before = len(origin.settle())
    got = await fetch_in_page(second.page, origin.url, wanted)
    hits = attribute(origin.settle()[before:], built)
    assert got == dict.fromkeys(wanted, "peer"), got
    assert origin_bytes(hits, wanted) == dict.fromkeys(wanted, 0), describe(hits)
