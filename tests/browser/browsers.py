"""The test browsers: visitors, and every error they show.

Debian's Chromium runs under Playwright (async API); Debian's Firefox ESR under our WebDriver
BiDi client (tests/browser/firefox.py), which offers the same calls. ``BROWSERS`` names them;
the ``browser_name`` fixture (conftest.py) runs every browser test in each.

Each visitor is a browser context (its own profile: service worker, OPFS, cache), granted
camera and microphone so that WebRTC offers ICE candidates on loopback (FACTS.md). Console
errors, uncaught exceptions and unhandled rejections of every page, and console errors,
uncaught exceptions and unhandled rejections of every service worker, are collected in one
:class:`ErrorLog` that fails the test (see conftest.py).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Playwright,
    WebError,
    Worker,
)

from tests.browser.firefox import Firefox, FirefoxContext

BROWSERS = ("chromium", "firefox")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
)
PERMISSIONS = ["camera", "microphone"]
TIMEOUT_MS = 15_000  # default bound of every Playwright wait
# Run before any other script of a page or service worker: no OPFS, so the runtime keeps its
# store in IndexedDB (the browsers where OPFS is missing).
NO_OPFS_JS = "self.StorageManager && delete StorageManager.prototype.getDirectory;\n"
# Firefox stand-in for Playwright's ``service_workers="block"``: registering never settles,
# so no worker ever controls the visitor's pages.
NO_SW_JS = (
    "self.ServiceWorkerContainer &&"
    " (ServiceWorkerContainer.prototype.register = () => new Promise(() => {}));\n"
)

# Installed in each service worker as soon as Playwright sees it: Playwright reports a
# worker's console messages but not its uncaught errors or unhandled rejections.
SW_ERROR_HOOKS = """() => {
  self.addEventListener("unhandledrejection", (e) => console.error(
    "unhandled rejection in the service worker: " + ((e.reason && e.reason.stack) || e.reason)));
  self.addEventListener("error", (e) => console.error(
    "uncaught error in the service worker: " + e.message));
}"""


@dataclass
class ErrorLog:
    """Every error any visitor's pages or workers showed; some may be allowed, by pattern."""

    found: list[str] = field(default_factory=list)
    deferred: dict[object, str] = field(default_factory=dict)
    allowed: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def allow(self, pattern: str, why: str) -> None:
        """Accept errors matching ``pattern`` (a regex) in this test, for the reason ``why``."""
        self.allowed.append((re.compile(pattern), why))

    def add(self, who: str, what: str, text: str) -> None:
        """Record ``text`` (the message itself, which allowed patterns are matched against)."""
        if not any(p.search(text) for p, _ in self.allowed):
            self.found.append(f"{who}: {what}: {text}")

    def defer(self, key: object, who: str, what: str, text: str) -> None:
        """Record ``text`` as :meth:`add` does, unless :meth:`explain` of ``key`` comes before
        the test ends (an event that tells what the message meant may come after it)."""
        if not any(p.search(text) for p, _ in self.allowed):
            self.deferred[key] = f"{who}: {what}: {text}"

    def explain(self, key: object) -> None:
        self.deferred.pop(key, None)

    def failed(self) -> bool:
        return bool(self.found or self.deferred)

    def report(self) -> str:
        return "\n".join([*self.found, *self.deferred.values()])

    def watch(self, who: str, context: BrowserContext | FirefoxContext) -> None:
        """Collect the errors of every page and service worker of ``context``."""
        if isinstance(context, FirefoxContext):
            context.watch(self, who)
            return

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                where = f" (service worker {msg.worker.url})" if msg.worker else ""
                loc = msg.location
                at = f" at {loc.get('url')}:{loc.get('lineNumber')}" if loc.get("url") else ""
                self.add(who, f"console error{where}{at}", msg.text)

        def on_weberror(error: WebError) -> None:
            self.add(who, "uncaught in a page", str(error.error))

        def on_service_worker(worker: Worker) -> None:
            task = asyncio.ensure_future(self._hook(who, worker))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        context.on("console", on_console)
        context.on("weberror", on_weberror)
        context.on("serviceworker", on_service_worker)
        for worker in context.service_workers:
            on_service_worker(worker)

    async def _hook(self, who: str, worker: Worker) -> None:
        try:
            await worker.evaluate(SW_ERROR_HOOKS)
        except Exception as err:  # the worker may have stopped already: nothing to watch
            if "closed" not in str(err).lower() and "destroyed" not in str(err).lower():
                self.add(who, f"could not watch the service worker {worker.url}", str(err))


async def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium with the flags of FACTS.md (Playwright cannot download browsers here)."""
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), timeout=30_000
    )


async def launch_persistent(
    playwright: Playwright,
    profile: Path,
    errors: ErrorLog,
    who: str,
    init_script: str | None = None,
    browser_name: str = "chromium",
) -> Any:
    """A browser whose one context keeps its profile in ``profile`` across restarts;
    closing the context closes the browser."""
    if browser_name == "firefox":
        firefox = await Firefox.launch(profile)
        ff_context = firefox.default_context()
        ff_context.set_default_timeout(TIMEOUT_MS)
        if init_script:
            await ff_context.add_init_script(init_script)
        errors.watch(who, ff_context)
        return ff_context
    context = await playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        args=list(CHROMIUM_ARGS),
        permissions=PERMISSIONS,
        timeout=30_000,
    )
    context.set_default_timeout(TIMEOUT_MS)
    if init_script:
        await context.add_init_script(init_script)
    errors.watch(who, context)
    return context


@dataclass
class Visitor:
    """One visitor: a browser context with its own profile."""

    name: str
    context: Any  # a Playwright BrowserContext, or a FirefoxContext offering the same calls

    async def open(self, url: str) -> Any:
        """A new tab showing ``url`` once loaded."""
        page = await self.context.new_page()
        await page.goto(url)
        return page

    async def close(self) -> None:
        await self.context.close()


class Visitors:
    """Makes visitors: contexts of one browser (Chromium's contexts, Firefox's user contexts),
    each watched by the test's :class:`ErrorLog`."""

    def __init__(
        self, browser: Browser | Firefox, errors: ErrorLog, init_script: str | None = None
    ) -> None:
        self.browser = browser
        self.name = "firefox" if isinstance(browser, Firefox) else "chromium"
        self.errors = errors
        self.init_script = init_script  # run in every page before its own scripts
        self.made: list[Visitor] = []

    async def new(self, name: str, *, service_workers: bool = True) -> Visitor:
        if isinstance(self.browser, Firefox):
            ff_context = await self.browser.new_context()
            ff_context.set_default_timeout(TIMEOUT_MS)
            self.errors.watch(name, ff_context)
            for script in (self.init_script, None if service_workers else NO_SW_JS):
                if script:
                    await ff_context.add_init_script(script)
            self.made.append(Visitor(name, ff_context))
            return self.made[-1]
        context = await self.browser.new_context(
            permissions=PERMISSIONS, service_workers="allow" if service_workers else "block"
        )
        context.set_default_timeout(TIMEOUT_MS)
        if self.init_script:
            await context.add_init_script(self.init_script)
        self.errors.watch(name, context)
        visitor = Visitor(name, context)
        self.made.append(visitor)
        return visitor

    async def close(self) -> None:
        """Close every visitor's context (closing one twice is harmless)."""
        for visitor in self.made:
            await visitor.close()
