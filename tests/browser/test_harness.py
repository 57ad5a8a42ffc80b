"""The harness itself: in each browser, what a service worker or a page shows as an error
reaches the test's ErrorLog (conftest.py fails a test on it), so that a browser whose errors
went unseen could not pass the suite by silence."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.browser.browsers import ErrorLog, Visitors
from tests.browser.firefox import SW_PRELUDE
from tests.browser.origin import Origin

WORKER_JS = """self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(clients.claim()));
self.addEventListener("message", (e) => {
  if (e.data === "log") console.error("the worker logs an error");
  if (e.data === "throw") setTimeout(() => { throw new Error("the worker throws"); });
  if (e.data === "reject") Promise.reject(new Error("the worker rejects"));
  if (e.data === "stream") e.waitUntil(new Response(new ReadableStream({
    pull() { throw new Error("the worker's stream fails"); } })).text().catch(() => {}));
});
"""
PAGE_HTML = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script>navigator.serviceWorker.register("sw.js");</script>"""
WORKER_SAYS = {
    "log": "the worker logs an error",
    "throw": "the worker throws",
    "reject": "the worker rejects",
    "stream": "the worker's stream fails",
}


async def until_seen(errors: ErrorLog, text: str, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(text in found for found in errors.found):
        assert asyncio.get_running_loop().time() < deadline, (text, errors.found)
        await asyncio.sleep(0.05)


async def test_worker_and_page_errors_reach_the_error_log(
    visitors: Visitors, origin: Origin, site_root: Path, errors: ErrorLog, browser_name: str
) -> None:
    """A page of its own (outside the manifest) with a worker of its own, which in Firefox
    carries the tests' prelude as the site's worker does (firefox.py)."""
    (site_root / "harness").mkdir()
    prelude = SW_PRELUDE if browser_name == "firefox" else ""
    (site_root / "harness/sw.js").write_text(prelude + WORKER_JS, encoding="utf-8")
    (site_root / "harness/index.html").write_text(PAGE_HTML, encoding="utf-8")
    page = await (await visitors.new("A")).open(origin.url + "harness/")
    await page.wait_for_function("() => !!navigator.serviceWorker.controller")
    post = "(m) => navigator.serviceWorker.controller.postMessage(m)"
    # A failing body is reported by the Firefox prelude only (Chromium shows none).
    says = {k: v for k, v in WORKER_SAYS.items() if browser_name == "firefox" or k != "stream"}
    for message, text in says.items():
        await page.evaluate(post, message)
        await until_seen(errors, text)
    await page.evaluate(
        "() => { console.error('the page logs an error');"
        " setTimeout(() => { throw new Error('the page throws'); }); }"
    )
    await until_seen(errors, "the page logs an error")
    await until_seen(errors, "the page throws")
    errors.found.clear()  # seen, as they should be: the test passes
