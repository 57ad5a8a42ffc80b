"""Fixtures of the real-browser tests: the browsers, visitors, the built test site and its origin.

Every test that uses a browser runs once in Chromium and once in Firefox (``browser_name``,
ids ``[chromium]`` and ``[firefox]``). A test that cannot run in Firefox says why with
``@pytest.mark.chromium_only("reason")``: its Firefox run is skipped with that reason.
Every test gets its own ``planktos serve`` (port 0, access log) over its own copy of the
built test site (tests/browser/sites.py) and its own visitors: browser contexts, each a
separate profile, of one browser that the whole session shares (launching one per test
would double the suite's time; the tests are grouped by browser, so only one runs at a time).
Any console error, uncaught exception or unhandled rejection in any page or service worker
fails the test. The server's output and the access log are printed when a test fails.

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

from tests.browser.browsers import BROWSERS, NO_OPFS_JS, ErrorLog, Visitors, launch
from tests.browser.firefox import SW_PRELUDE, Firefox
from tests.browser.origin import Origin
from tests.browser.sites import Built, add_worker_prelude, planktos_build, write_site

NETNS_HELP = (
    "this P2P test must run in a network namespace that holds only loopback, so that WebRTC "
    "between the test browsers cannot reach any other network; run it as root with "
    "`scripts/in-netns .venv/bin/python -m pytest -m p2p tests/browser`"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "p2p: browsers exchange data over WebRTC; run inside scripts/in-netns"
    )
    config.addinivalue_line(
        "markers", "chromium_only(reason): the test cannot run in Firefox, for this reason"
    )
    config.addinivalue_line(
        "markers", "firefox_flaky(reason): the Firefox run is known to fail at times (xfail)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses a browser in each browser, grouped by browser (session scope)."""
    if "browser_name" not in metafunc.fixturenames:
        return
    only = metafunc.definition.get_closest_marker("chromium_only")
    flaky = metafunc.definition.get_closest_marker("firefox_flaky")
    params = []
    for name in BROWSERS:
        marks = []
        if name != "chromium" and only is not None:
            why = only.args[0] if only.args else only.kwargs.get("reason", "")
            assert why, f"{metafunc.definition.nodeid}: chromium_only needs a reason"
            marks.append(pytest.mark.skip(reason=f"Chromium only: {why}"))
        if name == "firefox" and flaky is not None:
            marks.append(pytest.mark.xfail(reason=f"Firefox, known flaky: {flaky.args[0]}"))
        params.append(pytest.param(name, marks=marks, id=name))
    metafunc.parametrize("browser_name", params, indirect=True, scope="session")


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
    if isinstance(errors, ErrorLog) and errors.failed():
        pytest.fail("the browsers showed errors:\n" + errors.report(), pytrace=False)
    return result


@pytest.fixture
def errors() -> Iterator[ErrorLog]:
    """Errors seen in any page or worker of this test's visitors."""
    log = ErrorLog()
    yield log
    if log.failed():
        print("errors seen in the browsers:\n" + log.report())


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser_name(request: pytest.FixtureRequest) -> str:
    """``"chromium"`` or ``"firefox"`` (parametrized by ``pytest_generate_tests``)."""
    name: str = request.param
    return name


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def browser(
    browser_name: str, playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Browser | Firefox]:
    """The session's browser of this name."""
    if browser_name == "firefox":
        firefox = await Firefox.launch(tmp_path_factory.mktemp("firefox-profile"))
        yield firefox
        await firefox.close()
        return
    chromium = await launch(playwright)
    yield chromium
    await chromium.close()


@pytest.fixture
def store_kind() -> str:
    """Where the runtime keeps its store: ``"opfs"``, which Chromium has. Test modules that
    parametrize this fixture over ``"idb"`` as well run their tests once more with OPFS made
    unavailable, in the service worker (its script gets a prelude) and in pages (an init
    script), so that the runtime falls back on IndexedDB (js/common/idb-dir.js)."""
    return "opfs"


@pytest_asyncio.fixture(loop_scope="session")
async def visitors(
    browser: Browser | Firefox, errors: ErrorLog, store_kind: str
) -> AsyncIterator[Visitors]:
    """This test's visitors; their contexts close when it ends."""
    made = Visitors(browser, errors, init_script=NO_OPFS_JS if store_kind == "idb" else None)
    yield made
    await made.close()
    if isinstance(browser, Firefox):
        browser.errors = None


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test site, written and built once per session."""
    root = tmp_path_factory.mktemp("template") / "site"
    write_site(root)
    planktos_build(root, "--quiet")
    return root


@pytest.fixture
def site_root(
    built_template: Path, tmp_path: Path, store_kind: str, request: pytest.FixtureRequest
) -> Path:
    """This test's copy of the built test site (the server's document root). Its service
    worker gets preludes (kept across rebuilds): Firefox's error hooks (firefox.py), and
    the IndexedDB stand-in when ``store_kind`` is ``"idb"``."""
    root = Path(shutil.copytree(built_template, tmp_path / "site"))
    if (
        "browser_name" in request.fixturenames
        and request.getfixturevalue("browser_name") == "firefox"
    ):
        add_worker_prelude(root, SW_PRELUDE)
    if store_kind == "idb":
        add_worker_prelude(root, NO_OPFS_JS)
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
