"""Debian's Firefox ESR driven over WebDriver BiDi, behind the part of Playwright's API the
browser tests use (pages, contexts, responses), so that the same tests run in both browsers.

Why this and not another driver: Playwright drives only its own patched Firefox, and neither
that build nor geckodriver can be downloaded here; puppeteer-core (npm) speaks BiDi to
Debian's Firefox but would put the tests, or a bridge to them, in Node. Firefox speaks BiDi
itself (``--remote-debugging-port``) over a WebSocket, and ``websockets`` is already a
dependency: this module is that client, a few hundred lines, and the tests stay in Python.

What BiDi gives and what it does not (Firefox 153 ESR):
- Pages: navigate, reload, evaluate (``script.callFunction``), preload scripts per user
  context (the visitors), and their console errors and uncaught errors (``log.entryAdded``).
- Responses (``network.responseCompleted``), with no "answered by the service worker" flag:
  Firefox reports a response its worker synthesized as ``fromCache`` with ``headersSize`` 0.
  The HTTP cache is turned off (prefs below), so nothing else is ``fromCache``.
- Service workers: ``script.getRealms`` lists them, but they cannot be evaluated in ("Realm
  not found") and their console messages never reach ``log.entryAdded``. Firefox prints
  content console calls on its stdout when ``devtools.console.stdout.content`` is set, with
  no mark of who called; the tests' service worker therefore gets a prelude
  (:data:`SW_PRELUDE`, prepended to ``planktos.sw.js`` like the IndexedDB prelude) that tags
  its own console errors and turns its uncaught errors and unhandled rejections into tagged
  console errors. Lines so tagged fail the test; they cannot be told apart by visitor.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError
from websockets.asyncio.client import ClientConnection, connect

if TYPE_CHECKING:
    from tests.browser.browsers import ErrorLog

FIREFOX = Path("/usr/bin/firefox-esr")
SW_TAG = "[planktos-test-sw]"
# Prefs of every profile. The first two give WebRTC host candidates on loopback without a
# media permission (BiDi cannot grant one), together with a default route over `lo` inside
# scripts/in-netns (docs/runtime.md, "Firefox on loopback").
PREFS: dict[str, object] = {
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "devtools.console.stdout.content": True,  # service worker console -> stdout (see above)
    "devtools.console.stdout.chrome": False,  # not Firefox's own messages
    "browser.cache.disk.enable": False,  # fromCache then means: the service worker answered
    "browser.cache.memory.enable": False,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.normandy.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
}
# Runs first in the tests' service worker in Firefox (see the module's docstring). It also
# reports a response body the worker made that fails: Firefox's own report of that in the page
# cannot be told from a page's abort (FirefoxPage.abandoned).
SW_PRELUDE = (
    """(() => {
  const error = console.error.bind(console);
  // Firefox's Error#stack holds the frames only, not the message.
  const text = (a) =>
    (a instanceof Error ? a + " at " + a.stack : String(a)).replace(/\\n/g, " | ");
  console.error = (...args) => error("TAG " + args.map(text).join(" "));
  self.addEventListener("error", (e) =>
    console.error("uncaught error in the service worker: " + e.message));
  self.addEventListener("unhandledrejection", (e) =>
    console.error("unhandled rejection in the service worker: " + text(e.reason)));
  const failed = (e) => console.error("a response body failed in the service worker: " + text(e));
  const stop = ReadableStreamDefaultController.prototype.error;
  ReadableStreamDefaultController.prototype.error = function (e) {
    failed(e);
    return stop.call(this, e);
  };
  const wrap = (source, f) => f && ((c) => {
    try {
      const r = f.call(source, c);  // synchronously, as the constructor would
      if (!r || typeof r.then !== "function") return r;
      return r.then(undefined, (e) => { failed(e); throw e; });
    } catch (e) {
      failed(e);
      throw e;
    }
  });
  const Stream = self.ReadableStream;
  self.ReadableStream = class extends Stream {
    constructor(source, strategy) {
      super(source && { ...source, start: wrap(source, source.start),
        pull: wrap(source, source.pull),
        cancel: source.cancel && ((r) => source.cancel.call(source, r)) }, strategy);
    }
  };
})();
"""
).replace("TAG", SW_TAG)
SW_LINE = re.compile(r'^console\.error: "' + re.escape(SW_TAG) + r" (.*)\"$")
INTERCEPTION = re.compile(
    "^Failed to load \u2018(.*)\u2019\\. "
    r"A ServiceWorker intercepted the request and encountered an unexpected error\.$"
)
FUNCTION = re.compile(r"^\s*(async\s+)?(function\b|\([^)]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)")
TIMEOUT_S = 15.0


class BiDiError(PlaywrightError):
    """A BiDi command failed, or a script threw (a Playwright error, so that the tests'
    ``except PlaywrightError`` handles both browsers alike)."""


def to_local(value: Any) -> dict[str, Any]:
    """A Python value as a BiDi ``script.LocalValue``."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int | float):
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, list | tuple):
        return {"type": "array", "value": [to_local(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "object", "value": [[str(k), to_local(v)] for k, v in value.items()]}
    raise TypeError(f"cannot pass {value!r} to a page")


def from_remote(value: dict[str, Any]) -> Any:
    """A BiDi ``script.RemoteValue`` as a Python value (as Playwright's ``evaluate`` gives)."""
    kind, inner = value.get("type"), value.get("value")
    if kind in ("undefined", "null"):
        return None
    if kind == "number":
        return {"NaN": float("nan"), "-0": -0.0, "Infinity": float("inf")}.get(
            inner, float("-inf") if inner == "-Infinity" else inner
        )
    if kind in ("string", "boolean"):
        return inner
    if kind == "bigint":
        return int(inner)
    if kind in ("array", "set"):
        return [from_remote(v) for v in inner or []]
    if kind in ("object", "map"):
        return {
            k if isinstance(k, str) else str(from_remote(k)): from_remote(v) for k, v in inner or []
        }
    if kind == "date":
        return inner
    return {}


@dataclass
class Request:
    method: str
    id: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    """What Playwright's ``Response`` tells the tests, from ``network.responseCompleted``."""

    url: str
    status: int
    headers: dict[str, str]
    from_service_worker: bool
    request: Request
    browser: Firefox | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    async def body(self) -> bytes:
        """The body as the page got it (kept by the session's data collector)."""
        assert self.browser is not None
        params = {"dataType": "response", "request": self.request.id}
        data = (await self.browser.send("network.getData", params))["bytes"]
        if data["type"] == "base64":
            return base64.b64decode(data["value"])
        return str(data["value"]).encode()

    @classmethod
    def of(cls, params: dict[str, Any], browser: Firefox | None = None) -> Response:
        data = params["response"]
        headers = header_dict(data.get("headers", []))
        synthesized = bool(data.get("fromCache")) and not data.get("headersSize")
        return cls(
            data["url"],
            data["status"],
            headers,
            synthesized and not data["url"].startswith("data:"),
            Request(
                params["request"]["method"],
                params["request"]["request"],
                header_dict(params["request"].get("headers", [])),
            ),
            browser,
        )


def header_dict(headers: list[dict[str, Any]]) -> dict[str, str]:
    """BiDi's header list as Playwright gives it: lower-case names, repeated ones joined."""
    out: dict[str, str] = {}
    for h in headers:
        name, value = h["name"].lower(), h["value"].get("value", "")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


class Firefox:
    """One Firefox process (its own profile directory) and its BiDi session."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.proc: asyncio.subprocess.Process | None = None
        self.ws: ClientConnection | None = None
        self.errors: ErrorLog | None = None  # the running test's, for service worker lines
        self.contexts: dict[str, FirefoxContext] = {}  # user context id -> context
        self.pages: dict[str, FirefoxPage] = {}  # browsing context id -> page
        self._next = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.stderr_tail: list[str] = []

    @classmethod
    async def launch(cls, profile: Path | None = None) -> Firefox:
        """Start Firefox headless on ``profile`` (a fresh one when None) and open a session."""
        if profile is None:
            profile = Path(tempfile.mkdtemp(prefix="planktos-firefox-"))
        profile.mkdir(parents=True, exist_ok=True)
        prefs = "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items())
        (profile / "user.js").write_text(prefs, encoding="utf-8")
        browser = cls(profile)
        args = ["--headless", "--no-remote", "--profile", str(profile)]
        browser.proc = await asyncio.create_subprocess_exec(
            str(FIREFOX),
            *args,
            "--remote-debugging-port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert browser.proc.stderr is not None and browser.proc.stdout is not None
        url = await asyncio.wait_for(browser._bidi_url(), 30)
        browser._tasks.append(asyncio.ensure_future(browser._drain_stderr()))
        browser._tasks.append(asyncio.ensure_future(browser._read_stdout()))
        browser.ws = await connect(url + "/session", max_size=None)
        browser._tasks.append(asyncio.ensure_future(browser._read()))
        await browser.send("session.new", {"capabilities": {}})
        await browser.send(
            "session.subscribe",
            {"events": ["log.entryAdded", "network.responseCompleted", "network.fetchError"]},
        )
        # Keep response bodies for Response.body(), up to what a test page weighs.
        await browser.send(
            "network.addDataCollector",
            {"dataTypes": ["response"], "maxEncodedDataSize": 1 << 20},
        )
        return browser

    async def _bidi_url(self) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        while line := (await self.proc.stderr.readline()).decode(errors="replace"):
            self.stderr_tail.append(line)
            if m := re.search(r"WebDriver BiDi listening on (ws://\S+)", line):
                return m.group(1)
        raise RuntimeError("Firefox exited before listening:\n" + "".join(self.stderr_tail))

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr_tail = [*self.stderr_tail[-50:], line.decode(errors="replace")]

    async def _read_stdout(self) -> None:
        """Report the service workers' tagged console errors (SW_PRELUDE) to the test."""
        assert self.proc is not None and self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            line = raw.decode(errors="replace").rstrip("\n")
            if (m := SW_LINE.match(line)) and self.errors is not None:
                text = m.group(1).encode().decode("unicode_escape", errors="replace")
                self.errors.add("Firefox", "console error (service worker)", text)

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    future = self._pending.pop(msg["id"], None)
                    if future is not None and not future.done():
                        future.set_result(msg)
                elif msg.get("type") == "event":
                    self._on_event(msg["method"], msg["params"])
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BiDiError("Firefox closed the connection"))

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "log.entryAdded":
            if params.get("level") != "error":
                return
            ctx = params.get("source", {}).get("context")
            page = self.pages.get(ctx) if ctx else None
            if page is not None and page.abandoned(params):
                return
            if page is not None:
                page.context.on_log(params)
            elif self.errors is not None:
                self.errors.add("Firefox", "console error", params.get("text", ""))
        elif method == "network.fetchError":
            page = self.pages.get(params.get("context") or "")
            if page is not None and params.get("errorText") == "NS_BINDING_ABORTED":
                page.gave_up(params["request"]["url"])
        elif method == "network.responseCompleted":
            page = self.pages.get(params.get("context") or "")
            if page is not None:
                page.on_response(params)

    async def send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one BiDi command and return its result (raise :class:`BiDiError` on error)."""
        assert self.ws is not None
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = future
        await self.ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        msg = await future
        if msg.get("type") == "error":
            raise BiDiError(f"{method}: {msg.get('error')}: {msg.get('message')}")
        result: dict[str, Any] = msg["result"]
        return result

    async def new_context(self) -> FirefoxContext:
        """A new user context: a visitor with its own cookies, storage and service workers."""
        made = await self.send("browser.createUserContext", {})
        context = FirefoxContext(self, made["userContext"])
        self.contexts[context.id] = context
        return context

    def default_context(self) -> FirefoxContext:
        """The profile's own user context (what survives a restart on the same profile)."""
        context = self.contexts.get("default") or FirefoxContext(self, "default", owns_browser=True)
        self.contexts["default"] = context
        return context

    async def close(self) -> None:
        """Close Firefox (its profile directory stays)."""
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("browser.close", {}), 10)
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self.ws is not None:
            await self.ws.close()
        for task in self._tasks:
            task.cancel()
        self.proc = None


@dataclass
class Waiter:
    """What ``expect_response`` hands the test: ``await info.value``."""

    predicate: Callable[[Response], bool]
    future: asyncio.Future[Response]

    @property
    def value(self) -> asyncio.Future[Response]:
        return self.future


@dataclass
class FirefoxContext:
    """A visitor: one BiDi user context and its pages (Playwright's ``BrowserContext``)."""

    browser: Firefox
    id: str
    owns_browser: bool = False
    who: str = "Firefox"
    errors: ErrorLog | None = None
    timeout_s: float = TIMEOUT_S
    listeners: dict[str, list[Callable[[Any], None]]] = field(default_factory=dict)
    waiters: list[Waiter] = field(default_factory=list)
    preloads: list[str] = field(default_factory=list)
    closed: bool = False

    @property
    def pages(self) -> list[FirefoxPage]:
        return [p for p in self.browser.pages.values() if p.context is self]

    def watch(self, errors: ErrorLog, who: str) -> None:
        self.errors, self.who = errors, who
        self.browser.errors = errors

    def set_default_timeout(self, ms: float) -> None:
        self.timeout_s = ms / 1000

    def on(self, event: str, callback: Callable[[Any], None]) -> None:
        self.listeners.setdefault(event, []).append(callback)

    def on_log(self, params: dict[str, Any]) -> None:
        if self.errors is None:
            return
        where = ""
        frames = (params.get("stackTrace") or {}).get("callFrames") or []
        if frames:
            where = f" at {frames[0].get('url')}:{frames[0].get('lineNumber')}"
        what = "console error" if params.get("type") == "console" else "error in a page"
        self.errors.add(self.who, what + where, params.get("text") or "")

    def on_response(self, response: Response) -> None:
        for callback in self.listeners.get("response", []):
            callback(response)
        for waiter in list(self.waiters):
            if not waiter.future.done() and waiter.predicate(response):
                waiter.future.set_result(response)

    async def add_init_script(self, script: str) -> None:
        """Run ``script`` in every page of this visitor before the page's own scripts."""
        params: dict[str, Any] = {"functionDeclaration": "() => {\n" + script + "\n}"}
        if self.id != "default":
            params["userContexts"] = [self.id]
        await self.browser.send("script.addPreloadScript", params)

    async def new_page(self) -> FirefoxPage:
        made = await self.browser.send(
            "browsingContext.create", {"type": "tab", "userContext": self.id}
        )
        page = FirefoxPage(self, made["context"])
        self.browser.pages[page.id] = page
        return page

    async def close(self) -> None:
        """Close this visitor's tabs and drop its user context (or close its own browser)."""
        if self.closed:
            return
        self.closed = True
        if self.owns_browser:
            await self.browser.close()
            return
        for page in self.pages:
            await page.close()
        with contextlib.suppress(BiDiError):
            await self.browser.send("browser.removeUserContext", {"userContext": self.id})
        self.browser.contexts.pop(self.id, None)


@dataclass
class FirefoxPage:
    """One tab (Playwright's ``Page``)."""

    context: FirefoxContext
    id: str
    url: str = "about:blank"
    navigations: dict[str, Response] = field(default_factory=dict)
    aborted: list[str] = field(default_factory=list)  # requests this page gave up on
    # Firefox's interception reports not explained by an abort yet: (URL, ErrorLog key).
    unexplained: list[tuple[str, object]] = field(default_factory=list)
    closed: bool = False

    def abandoned(self, params: dict[str, Any]) -> bool:
        """Whether a page's log entry is Firefox's report of a request this page itself gave
        up on (handled here), not an error.

        Firefox logs "A ServiceWorker intercepted the request and encountered an unexpected
        error" in the page whenever the page aborts a response a worker answered while its
        body is still being read (a video element that seeks, a page that reloads while its
        agent script loads), even for ``respondWith(fetch(event.request))``; its URL is empty
        for a body the worker made. The same words also report a worker's real failure (a body
        stream that errors). For a body with a URL in the message BiDi tells the two apart: a
        ``network.fetchError`` of ``NS_BINDING_ABORTED`` for that request, sent before the
        message or (seen in CI for the agent script) after it; until the test ends, the
        message waits for it (``ErrorLog.defer``). For a body the worker made (no URL; a
        media element's requests get no BiDi network events at all) the worker's prelude
        reports every body that fails (SW_PRELUDE), so Firefox's report is dropped here.
        """
        text = params.get("text") or ""
        m = INTERCEPTION.match(text)
        if m is None:
            return False
        url = m.group(1)
        if url == "":
            return True
        if url in self.aborted:
            self.aborted.remove(url)
            return True
        errors = self.context.errors
        if errors is None:
            return False
        key = (self.id, url, len(self.unexplained), text)
        errors.defer(key, self.context.who, "error in a page", text)
        self.unexplained.append((url, key))
        return True

    def gave_up(self, url: str) -> None:
        """BiDi says this page aborted its request for ``url``."""
        for i, (seen, key) in enumerate(self.unexplained):
            if seen == url:
                del self.unexplained[i]
                if self.context.errors is not None:
                    self.context.errors.explain(key)
                return
        self.aborted.append(url)

    def on_response(self, params: dict[str, Any]) -> None:
        response = Response.of(params, self.context.browser)
        if params.get("navigation"):
            self.navigations[params["navigation"]] = response
        self.context.on_response(response)

    async def _navigated(self, result: dict[str, Any]) -> Response | None:
        self.url = result.get("url", self.url)
        navigation = result.get("navigation")
        if not navigation:
            return None
        # The main resource's responseCompleted arrives before the load event that ended
        # the command, on the same connection: it has been seen already.
        return self.navigations.pop(navigation, None)

    async def goto(self, url: str) -> Response | None:
        result = await self._send(
            "browsingContext.navigate", {"context": self.id, "url": url, "wait": "complete"}
        )
        return await self._navigated(result)

    async def reload(self) -> Response | None:
        result = await self._send(
            "browsingContext.reload", {"context": self.id, "wait": "complete"}
        )
        return await self._navigated(result)

    async def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(
                self.context.browser.send(method, params), self.context.timeout_s * 2
            )
        except TimeoutError:
            limit = self.context.timeout_s * 2
            raise BiDiError(f"{method} {params}: no answer within {limit} s") from None

    async def evaluate(self, expression: str, arg: Any = None) -> Any:
        """Playwright's ``evaluate``: call a function with ``arg``, or evaluate an expression;
        promises are awaited."""
        target = {"context": self.id}
        if FUNCTION.match(expression):
            params: dict[str, Any] = {
                "functionDeclaration": expression,
                "arguments": [] if arg is None else [to_local(arg)],
                "awaitPromise": True,
                "target": target,
            }
            result = await self._send("script.callFunction", params)
        else:
            params = {"expression": expression, "awaitPromise": True, "target": target}
            result = await self._send("script.evaluate", params)
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            text = details.get("text") or json.dumps(details)
            if "is not defined" not in text and "dead object" in text:
                text += " (execution context was destroyed)"
            raise BiDiError(f"evaluate: {text}")
        return from_remote(result["result"])

    async def title(self) -> str:
        """Playwright's ``title``: the document's title."""
        return str(await self.evaluate("document.title"))

    async def wait_for_function(
        self, expression: str, arg: Any = None, timeout: float | None = None
    ) -> Any:
        """Poll ``expression`` until truthy, like Playwright's (``timeout`` in ms)."""
        limit = (timeout / 1000) if timeout is not None else self.context.timeout_s
        deadline = asyncio.get_running_loop().time() + limit
        while True:
            try:
                value = await self.evaluate(expression, arg)
            except BiDiError as err:
                if not navigating(err):
                    raise
                value = None
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise BiDiError(f"wait_for_function: still false after {limit} s: {expression}")
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def expect_response(self, predicate: Callable[[Response], bool]) -> AsyncIterator[Waiter]:
        waiter = Waiter(predicate, asyncio.get_running_loop().create_future())
        self.context.waiters.append(waiter)
        try:
            yield waiter
            await asyncio.wait_for(asyncio.shield(waiter.future), self.context.timeout_s)
        finally:
            self.context.waiters.remove(waiter)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(BiDiError):
            await self.context.browser.send("browsingContext.close", {"context": self.id})
        self.context.browser.pages.pop(self.id, None)


def navigating(err: Exception) -> bool:
    """Whether ``err`` means only: the page navigated (or was replaced) meanwhile."""
    text = str(err)
    return any(
        s in text
        for s in ("context was destroyed", "no such frame", "not found", "dead object", "navigat")
    )


async def remove_profile(profile: Path) -> None:
    await asyncio.to_thread(shutil.rmtree, profile, True)
