"""What tests ask pages: is the service worker in control, is the agent running, what did the
page get, what is in the store. Every wait is on a condition, bounded by Playwright's timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

from playwright.async_api import BrowserContext, Page, Response
from playwright.async_api import Error as PlaywrightError

from planktos import runtime
from tests.browser.browsers import Visitor
from tests.browser.sites import Built, token
from tests.browser.sites import Page as SitePage

STORE = "planktos-v1"
WAIT_S = 15.0
# The agent as a built site publishes it (content-hashed name), relative to the base.
AGENT = "planktos/" + runtime.agent_name()
# The agent (imported from its URL, ``base + AGENT``) finished a prefetch pass of its page's links.
PREFETCHED = "async (url) => (await import(url)).counters.prefetchPasses > 0"
# The store's root in a page: OPFS, or where OPFS is missing the runtime's IndexedDB stand-in,
# which the agent exports (js/common/idb-dir.js).
STORE_ROOT_JS = f"""(navigator.storage.getDirectory ? navigator.storage.getDirectory()
  : import(location.origin + "/{AGENT}").then((m) => m.storageRoot()))"""


def with_store_root(js: str) -> str:
    """``js`` with ``STORE_ROOT`` standing for the store's root directory handle."""
    return js.replace("STORE_ROOT", STORE_ROOT_JS)


async def until(page: Page, predicate: str, arg: Any = None, timeout: float = WAIT_S) -> Any:
    """Evaluate the JS function ``predicate(arg)`` in ``page`` until it returns a truthy value.

    Unlike Playwright's ``wait_for_function``, this awaits a predicate that returns a
    promise (which is always truthy to Playwright). A navigation of the page meanwhile (the
    kill switch reloads pages, for one) only means: ask again.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            value = await page.evaluate(predicate, arg)
        except PlaywrightError as err:
            if "context was destroyed" not in str(err) and "navigat" not in str(err):
                raise
            value = None
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still false after {timeout} s: {predicate} ({arg!r})")
        await asyncio.sleep(0.05)


async def until_controlled(page: Page) -> None:
    """Wait until the Planktos service worker controls ``page``."""
    await page.wait_for_function(
        """() => {
          const c = navigator.serviceWorker && navigator.serviceWorker.controller;
          return !!c && new URL(c.scriptURL).pathname.endsWith("/planktos.sw.js");
        }"""
    )


async def until_agent_loaded(page: Page) -> None:
    """Wait until ``page`` has loaded the agent script (leader or not). A page that navigates
    while it loads gets Firefox's "A ServiceWorker intercepted the request and encountered an
    unexpected error" for it, with at times no abort that BiDi reports (FirefoxPage.abandoned).
    """
    await page.wait_for_function(
        """(agent) => performance.getEntriesByType("resource")
                  .some((e) => new URL(e.name).pathname.endsWith(agent))""",
        arg="/" + AGENT,
    )


async def until_agent(page: Page) -> None:
    """Wait until ``page`` runs its profile's agent and the service worker has its port.

    install.js imports the agent (``AGENT``) after ``load`` when the browser is idle; the tab that
    holds the Web Lock ``planktos-agent`` becomes the leader (its agent's ``counters.leader``)
    and at once posts ``{type: "agent"}`` with a port to the service worker (docs/runtime.md).
    A stats round trip from the same page comes after that message in the worker's queue, so
    when it returns the worker has registered the port. ``page`` must be the leader tab.
    """
    await until_controlled(page)
    await until_agent_loaded(page)
    agent = await page.evaluate(
        """(agent) => performance.getEntriesByType("resource").map((e) => e.name)
                  .find((n) => new URL(n).pathname.endsWith(agent))""",
        "/" + AGENT,
    )
    await until(page, "async (url) => (await import(url)).counters.leader === true", agent)
    await sw_stats(page)


STATS_JS = """() => {
  window.__planktosStats = async () => {
    const reg = await navigator.serviceWorker.ready;
    const worker = navigator.serviceWorker.controller || reg.active;
    const channel = new MessageChannel();
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("no stats from the service worker within 5 s")), 5000);
      channel.port1.onmessage = (e) => { clearTimeout(timer); resolve(e.data); };
      worker.postMessage({ type: "stats" }, [channel.port2]);
    });
  };
}"""


async def install_probes(page: Page) -> None:
    """Define the page-side helpers the probes use (again after every navigation)."""
    await page.evaluate(STATS_JS)


async def sw_stats(page: Page) -> dict[str, Any]:
    """The service worker's counters (js/sw/counters.js), asked through ``page``."""
    await install_probes(page)
    return cast(dict[str, Any], await page.evaluate("() => window.__planktosStats()"))


async def agent_counters(page: Page, base: str) -> dict[str, Any]:
    """The counters of the agent running in ``page`` (docs/runtime.md, "The agent")."""
    return cast(
        dict[str, Any],
        await page.evaluate("async (url) => ({ ...(await import(url)).counters })", base + AGENT),
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def page_state(page: Page, site_page: SitePage) -> dict[str, Any]:
    """What proves ``site_page`` arrived whole: its script's token, its style's, its image."""
    return cast(
        dict[str, Any],
        await page.evaluate(
            """([js, cssVar]) => {
              const img = document.querySelector("img");
              return {
                js: (self.planktosTest || {})[js] || null,
                css: getComputedStyle(document.documentElement).getPropertyValue(cssVar).trim(),
                img: img && img.complete ? [img.naturalWidth, img.naturalHeight] : null,
              };
            }""",
            [site_page.js, site_page.css_var],
        ),
    )


def expected_state(site_page: SitePage) -> dict[str, Any]:
    return {
        "js": token(site_page.js),
        "css": f'"{token(site_page.css)}"',
        "img": list(site_page.img_size),
    }


async def until_page_complete(page: Page, site_page: SitePage) -> None:
    """Wait until ``site_page``'s script ran and its image decoded (or failed)."""
    await page.wait_for_function(
        """(js) => document.readyState === "complete" && !!(self.planktosTest || {})[js]
                   && [...document.images].every((i) => i.complete)""",
        arg=site_page.js,
    )


async def opfs_list(page: Page, *path: str) -> list[str]:
    """Names in an OPFS directory of ``page``'s origin (``[]`` when it does not exist)."""
    return cast(
        list[str],
        await page.evaluate(
            with_store_root(
                """async (path) => {
              let dir = await STORE_ROOT;
              try {
                for (const name of path) dir = await dir.getDirectoryHandle(name);
              } catch (e) {
                return [];
              }
              const names = [];
              try {
                for await (const name of dir.keys()) names.push(name);
              } catch (e) {
                // Deleted while listed (eviction runs beside the page): it is gone.
                if (e.name === "NotFoundError") return [];
                throw e;
              }
              return names.sort();
            }"""
            ),
            list(path),
        ),
    )


async def opfs_overwrite(page: Page, path: list[str], fill: int) -> int:
    """Overwrite an OPFS file with bytes ``fill`` of the same length; returns the length."""
    return cast(
        int,
        await page.evaluate(
            with_store_root(
                """async ([path, fill]) => {
              let dir = await STORE_ROOT;
              for (const name of path.slice(0, -1)) dir = await dir.getDirectoryHandle(name);
              const handle = await dir.getFileHandle(path[path.length - 1]);
              const size = (await handle.getFile()).size;
              const w = await handle.createWritable();
              await w.write(new Uint8Array(size).fill(fill));
              await w.close();
              return size;
            }"""
            ),
            [path, fill],
        ),
    )


async def arrive(visitor: Visitor, url: str) -> Page:
    """Open ``url`` (a page with install.js) in a new tab and wait until its agent runs."""
    page = await visitor.open(url)
    await until_agent(page)
    return page


@dataclass(frozen=True)
class Seen:
    """A ``fetch()`` from a page as the page saw it, and whether the service worker answered."""

    from_sw: bool
    status: int
    headers: dict[str, str]
    length: int
    sha256: str


async def fetch_seen(
    page: Page, url: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> Seen:
    """``fetch(url)`` from ``page`` (``url`` absolute, percent-encoded as it will be sent)."""

    def mine(response: Response) -> bool:
        return response.url == url and response.request.method == method

    async with page.expect_response(mine) as info:
        result = await page.evaluate(
            """async ([url, method, headers]) => {
              const r = await fetch(url, { method, headers, cache: "no-store" });
              const body = new Uint8Array(await r.arrayBuffer());
              const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
              return {
                status: r.status,
                headers: Object.fromEntries(r.headers),
                length: body.length,
                sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
              };
            }""",
            [url, method, headers or {}],
        )
    response = await info.value
    return Seen(
        response.from_service_worker,
        result["status"],
        result["headers"],
        result["length"],
        result["sha256"],
    )


IN_THE_WORKER = (
    "evaluates in the service worker (Playwright's Worker.evaluate); Firefox's WebDriver BiDi "
    'lists service-worker realms but refuses to evaluate in them ("Realm not found")'
)
STOP_WORKERS = (
    "stops the service worker (Chrome DevTools Protocol ServiceWorker.stopAllWorkers); "
    "WebDriver BiDi has no command that stops or restarts a service worker"
)


async def stop_service_workers(page: Page) -> None:
    """Stop every service worker of ``page``'s browser, as Chromium does to idle ones.

    The next request a worker must handle starts it again from its script, with nothing kept
    in memory.
    """
    cdp = await page.context.new_cdp_session(page)
    try:
        await cdp.send("ServiceWorker.enable")
        await cdp.send("ServiceWorker.stopAllWorkers")
    finally:
        await cdp.detach()


class Sources:
    """Where the service worker says each response it gave came from (``X-Planktos-Source``)."""

    def __init__(self, context: BrowserContext) -> None:
        self.seen: dict[str, str | None] = {}
        self.passed: list[str] = []
        context.on("response", self._on_response)

    def _on_response(self, response: Response) -> None:
        if "planktos-prefetch" in response.request.headers:
            return  # an agent's prefetch (a page of the context reading another), not a load
        if response.from_service_worker:
            self.seen[response.url] = response.headers.get("x-planktos-source")
        else:
            self.passed.append(response.url)

    def of(self, base: str, keys: Iterable[str]) -> dict[str, str | None]:
        """The source of each file (by key), ``"-"`` for one the worker did not answer."""
        urls = {key: base + quote(key, safe="/").removesuffix("index.html") for key in keys}
        return {key: self.seen.get(url, "-") for key, url in urls.items()}


async def until_stored(page: Page, path: list[str], names: list[str]) -> None:
    """Wait until ``names`` are in an OPFS directory, whole (no write to them in progress).

    A file written with ``createWritable()`` exists, empty, until the write commits; its
    expected content length is not known here, so "whole" means: non-empty, or listed with
    no swap file beside it.
    """
    await until(
        page,
        with_store_root(
            """async ([path, names]) => {
          let dir = await STORE_ROOT;
          try {
            for (const name of path) dir = await dir.getDirectoryHandle(name);
            const all = new Set();
            for await (const name of dir.keys()) all.add(name);
            for (const name of names) {
              if (!all.has(name) || [...all].some((n) => n.startsWith(name + ".") )) return false;
              if ((await (await dir.getFileHandle(name)).getFile()).size === 0) return false;
            }
            return true;
          } catch (e) {
            return false;
          }
        }"""
        ),
        [path, names],
    )


async def until_held(page: Page, built: Built, keys: Iterable[str], timeout: float = 30) -> None:
    """Wait until the service worker says its agent's connected peers hold every piece of
    the files ``keys`` (its stats' ``holding``)."""
    wanted: dict[str, set[int]] = {}
    for key in keys:
        shard, entry = built.shard(key), built.entry(key)
        pl, at = shard["piece_length"], entry.get("offset", 0)
        pieces = range(at // pl, (at + entry["length"] - 1) // pl + 1)
        wanted.setdefault(shard["infohash"], set()).update(pieces)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        holding = (await sw_stats(page))["holding"]  # infohash -> bitfield bytes
        if all(all(held(holding.get(ih, []), i) for i in ps) for ih, ps in wanted.items()):
            return
        assert asyncio.get_running_loop().time() < deadline, (holding, wanted)
        await asyncio.sleep(0.1)


def held(bitfield: list[int], piece: int) -> bool:
    """Whether a BitTorrent bitfield (piece 0 in the high bit of byte 0) has ``piece``."""
    return piece >> 3 < len(bitfield) and bool(bitfield[piece >> 3] & (0x80 >> (piece & 7)))
