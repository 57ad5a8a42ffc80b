"""Fixtures of the real-browser tests: Chromium, visitors, the built test site and its origin.

Every test gets its own ``planktos serve`` (port 0, access log) over its own copy of the
built test site (tests/browser/sites.py) and its own visitors: browser contexts, each a
separate profile, of one Chromium that the whole session shares (launching one per test
would double the suite's time). Any console error, uncaught exception or unhandled rejection
in any page or service worker fails the test. The server's output and the access log are
printed when a test fails.

Tests marked ``p2p`` make browsers talk WebRTC; they must run in a network namespace holding
only loopback (``scripts/in-netns``) and fail anywhere else.
"""

from __future__ import annotations

import inspect
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Playwright, async_playwright

from tests.browser.browsers import NO_OPFS_JS, ErrorLog, Visitors, launch
from tests.browser.origin import Origin
from tests.browser.sites import Built, drop_precompressed, planktos_build, write_site

NETNS_HELP = (
    "this P2P test must run in a network namespace that holds only loopback, so that WebRTC "
    "between the test browsers cannot reach any other network; run it as root with "
    "`scripts/in-netns .venv/bin/python -m pytest -m p2p tests/browser`"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "p2p: browsers exchange data over WebRTC; run inside scripts/in-netns"
    )


def only_loopback() -> bool:
    """Whether this process's network namespace has loopback, up, and no other interface.

    ``/sys/class/net`` shows the namespace that mounted /sys, not ours; the interface list
    comes from the kernel for the caller's namespace.
    """
    if [name for _, name in socket.if_nameindex()] != ["lo"]:
        return False
    try:
        with socket.create_server(("127.0.0.1", 0)) as server:
            socket.create_connection(server.getsockname(), timeout=1).close()
    except OSError:
        return False  # loopback down
    return True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests in the session's event loop, where the shared Chromium lives."""
    here = Path(__file__).parent
    for item in items:
        test = getattr(item, "function", None)
        if here in Path(str(item.path)).parents and inspect.iscoroutinefunction(test):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("p2p") is not None and not only_loopback():
        pytest.fail(NETNS_HELP, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test that passed if its browsers showed an error."""
    result = yield
    errors = getattr(item, "funcargs", {}).get("errors")
    if isinstance(errors, ErrorLog) and errors.found:
        pytest.fail("the browsers showed errors:\n" + errors.report(), pytrace=False)
    return result


@pytest.fixture
def errors() -> Iterator[ErrorLog]:
    """Errors seen in any page or worker of this test's visitors."""
    log = ErrorLog()
    yield log
    if log.found:
        print("errors seen in the browsers:\n" + log.report())


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as pw:
        yield pw


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def chromium(playwright: Playwright) -> AsyncIterator[Browser]:
    browser = await launch(playwright)
    yield browser
    await browser.close()


@pytest.fixture
def store_kind() -> str:
    """Where the runtime keeps its store: ``"opfs"``, which Chromium has. Test modules that
    parametrize this fixture over ``"idb"`` as well run their tests once more with OPFS made
    unavailable, in the service worker (its script gets a prelude) and in pages (an init
    script), so that the runtime falls back on IndexedDB (js/common/idb-dir.js)."""
    return "opfs"


@pytest_asyncio.fixture(loop_scope="session")
async def visitors(chromium: Browser, errors: ErrorLog, store_kind: str) -> AsyncIterator[Visitors]:
    """This test's visitors; their contexts close when it ends."""
    made = Visitors(chromium, errors, init_script=NO_OPFS_JS if store_kind == "idb" else None)
    yield made
    await made.close()


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test site, written and built once per session."""
    root = tmp_path_factory.mktemp("template") / "site"
    write_site(root)
    planktos_build(root, "--quiet")
    return root


@pytest.fixture
def site_root(built_template: Path, tmp_path: Path, store_kind: str) -> Path:
    """This test's copy of the built test site (the server's document root)."""
    root = Path(shutil.copytree(built_template, tmp_path / "site"))
    if store_kind == "idb":
        worker = root / "planktos.sw.js"
        worker.write_text(NO_OPFS_JS + worker.read_text(encoding="utf-8"), encoding="utf-8")
        drop_precompressed(worker)
    return root


@pytest.fixture
def built(site_root: Path) -> Built:
    return Built.load(site_root)


@pytest.fixture
def separate_tracker(site_root: Path, tmp_path: Path) -> Iterator[Origin]:
    """A tracker on its own server (``planktos serve --open-tracker`` on an empty root), as a
    site would run it apart from the origin; the test site is rebuilt to announce to it."""
    (tmp_path / "tracker-root").mkdir()
    tracker = Origin(tmp_path / "tracker-root", tmp_path / "tracker.log", "--open-tracker")
    tracker.start()
    try:
        ws = tracker.url.replace("http://", "ws://") + "planktos/tracker"
        planktos_build(site_root, "--tracker", ws, "--quiet")
        yield tracker
    finally:
        tracker.stop()
        print(tracker.output())


@pytest.fixture
def origin(site_root: Path, tmp_path: Path) -> Iterator[Origin]:
    """``planktos serve`` over the built test site, with an access log."""
    server = Origin(site_root, tmp_path / "access.log")
    server.start()
    yield server
    server.stop()
    print(server.output())
