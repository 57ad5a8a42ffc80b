"""Routing: the service worker answers same-origin GETs for manifest paths and nothing else.

"Answered" is what Chromium reports as a response from the service worker's fetch handler
(``respondWith``); a request that passes through reaches the origin untouched.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from tests.browser.browsers import ErrorLog, Visitors
from tests.browser.origin import Origin, attribute, describe
from tests.browser.probes import (
    AGENT,
    arrive,
    expected_state,
    fetch_seen,
    page_state,
    sha256,
    until,
    until_controlled,
    until_page_complete,
)
from tests.browser.sites import (
    AWKWARD,
    PAGE_A,
    VIDEO,
    Built,
    planktos_build,
    site_files,
    write_site,
)

FILES = site_files()


async def test_manifest_file_is_answered_by_the_service_worker(
    visitors: Visitors, origin: Origin
) -> None:
    page = await arrive(await visitors.new("A"), origin.url)
    seen = await fetch_seen(page, origin.url + PAGE_A.css)
    assert seen.from_sw
    assert (seen.status, seen.sha256) == (200, sha256(FILES[PAGE_A.css]))
    assert seen.headers["x-planktos-source"] in ("store", "peer", "origin")


async def test_directory_url_is_answered_with_its_index_html(
    visitors: Visitors, origin: Origin
) -> None:
    visitor = await visitors.new("A")
    await arrive(visitor, origin.url)
    page = await visitor.context.new_page()
    response = await page.goto(origin.url + PAGE_A.url)
    assert response is not None and response.from_service_worker
    assert await response.body() == FILES[PAGE_A.key]
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)


def lower_escapes(encoded: str) -> str:
    head, *escaped = encoded.split("%")
    return "%".join([head, *(part[:2].lower() + part[2:] for part in escaped)])


async def test_percent_encoded_names_are_answered(visitors: Visitors, origin: Origin) -> None:
    """Names with ``%``, ``#``, ``?``, spaces and UTF-8, escaped in upper and lower case."""
    page = await arrive(await visitors.new("A"), origin.url)
    for name in AWKWARD:
        upper = quote(name, safe="/")
        for encoded in (upper, lower_escapes(upper)):
            seen = await fetch_seen(page, origin.url + encoded)
            assert seen.from_sw, encoded
            assert (seen.status, seen.sha256) == (200, sha256(FILES[name])), encoded


async def test_needlessly_encoded_name_is_answered(visitors: Visitors, origin: Origin) -> None:
    page = await arrive(await visitors.new("A"), origin.url)
    assert PAGE_A.css == "css/a.css"
    seen = await fetch_seen(page, origin.url + "css/%61.css")
    assert seen.from_sw
    assert (seen.status, seen.sha256) == (200, sha256(FILES[PAGE_A.css]))


async def test_file_missing_from_the_manifest_passes_through(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    (site_root / "unlisted.txt").write_bytes(b"written after the build\n")
    page = await arrive(await visitors.new("A"), origin.url)
    seen = await fetch_seen(page, origin.url + "unlisted.txt")
    assert not seen.from_sw
    assert (seen.status, seen.sha256) == (200, sha256(b"written after the build\n"))


async def test_other_origin_passes_through(visitors: Visitors, origin: Origin) -> None:
    page = await arrive(await visitors.new("A"), origin.url)
    other = f"http://localhost:{origin.port}/{PAGE_A.css}"  # same server, another origin
    seen = await fetch_seen(page, other)
    assert not seen.from_sw
    assert (seen.status, seen.sha256) == (200, sha256(FILES[PAGE_A.css]))


async def test_other_methods_pass_through(
    visitors: Visitors, origin: Origin, errors: ErrorLog
) -> None:
    """HEAD included: the origin answers it without a body, and no store can answer it better."""
    errors.allow(r"status of 405 \(Method Not Allowed\)", "the origin refuses POST: expected")
    page = await arrive(await visitors.new("A"), origin.url)
    for method, status in [("HEAD", 200), ("OPTIONS", 204), ("POST", 405)]:
        seen = await fetch_seen(page, origin.url + PAGE_A.css, method=method)
        assert not seen.from_sw, method
        assert seen.status == status, method
        if method == "HEAD":  # deliberately the origin's: the same headers a GET would get
            assert seen.headers["content-length"] == str(len(FILES[PAGE_A.css]))
            assert seen.length == 0


async def test_manifest_and_worker_script_pass_through(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    page = await arrive(await visitors.new("A"), origin.url)
    for path in ("planktos/manifest.json", "planktos.sw.js"):
        seen = await fetch_seen(page, origin.url + path)
        assert not seen.from_sw, path
        assert (seen.status, seen.sha256) == (200, sha256((site_root / path).read_bytes()))


async def test_runtime_scripts_are_this_builds(
    visitors: Visitors, origin: Origin, site_root: Path, browser_name: str
) -> None:
    """install.js: the copy the worker kept when it installed, answered by the browser itself
    (routes.js) without asking the origin again. The agent: its name is its content's hash, so
    once the worker keeps a copy (when a page that it controls imports it), that copy answers,
    never revalidated. Firefox has no static routes: its worker answers install.js from the
    copy and revalidates it in the background (js/sw/scripts.js), one request at most."""
    revalidated = {"firefox": ["/planktos/install.js"]}.get(browser_name, [])
    page = await arrive(await visitors.new("A"), origin.url)
    # The first page imported the agent before the worker controlled it: the worker keeps a
    # copy the first time it answers (this fetch asks for no-store, so that is the origin's).
    await fetch_seen(page, origin.url + AGENT)
    kept = "async (url) => !!(await (await caches.open('planktos-v1')).match(url))"
    await until(page, kept, origin.url + AGENT)
    for path in ("planktos/install.js", AGENT):
        before = len(origin.settle())
        seen = await fetch_seen(page, origin.url + path)
        assert seen.from_sw, path
        assert (seen.status, seen.sha256) == (200, sha256((site_root / path).read_bytes()))
        asked = [e.path for e in origin.settle()[before:] if e.path == "/" + path]
        assert asked in ([], revalidated), path


async def test_explicit_web_seed_requests_pass_through(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    page = await arrive(await visitors.new("A"), origin.url)
    single = await fetch_seen(
        page, origin.url + VIDEO + "?planktos-webseed=1", headers={"Range": "bytes=100-199"}
    )
    assert not single.from_sw
    assert (single.status, single.sha256) == (206, sha256(FILES[VIDEO][100:200]))
    tree = next(path for path, key in built.web_seed_paths().items() if key == PAGE_A.css)
    multi = await fetch_seen(page, origin.url + quote(tree.removeprefix("/")))
    assert not multi.from_sw
    assert (multi.status, multi.sha256) == (200, sha256(FILES[PAGE_A.css]))


async def test_web_seed_requests_pass_through(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    """Web seed URLs (a tree under planktos/w/, a single file with ?planktos-webseed=1) are
    for other BitTorrent clients and libtorrent mirrors: the worker lets them through."""
    visitor = await visitors.new("A")
    page = await arrive(visitor, origin.url)
    await until_controlled(page)
    tree = next(p for p, key in built.web_seed_paths().items() if key == PAGE_A.js)
    for url in (origin.url + tree.removeprefix("/"), origin.url + VIDEO + "?planktos-webseed=1"):
        seen = await fetch_seen(page, url)
        assert not seen.from_sw and seen.status == 200, url


async def test_site_under_a_sub_path(visitors: Visitors, tmp_path: Path) -> None:
    """``--base-url /sub/``: the worker's scope is /sub/; paths outside it pass through."""
    root = tmp_path / "root"
    write_site(root / "sub")
    (root / "outside.txt").write_bytes(b"outside the site\n")
    # `planktos serve` of the parent has its tracker at /planktos/tracker, outside the base.
    planktos_build(root / "sub", "--base-url", "/sub/", "--tracker", "/planktos/tracker", "--quiet")
    built = Built.load(root / "sub", base="/sub/")
    server = Origin(root, tmp_path / "access.log")
    server.start()
    try:
        visitor = await visitors.new("A")
        home = await arrive(visitor, server.url + "sub/")
        scope = await home.evaluate("navigator.serviceWorker.controller.scriptURL")
        assert scope == server.url + "sub/planktos.sw.js"
        inside = await fetch_seen(home, server.url + "sub/" + PAGE_A.css)
        assert inside.from_sw and inside.sha256 == sha256(FILES[PAGE_A.css])
        outside = await fetch_seen(home, server.url + "outside.txt")
        assert not outside.from_sw and outside.sha256 == sha256(b"outside the site\n")
        page = await visitor.context.new_page()
        response = await page.goto(server.url + "sub/" + PAGE_A.url)
        assert response is not None and response.from_service_worker
        await until_controlled(page)
        await until_page_complete(page, PAGE_A)
        assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
        hits = attribute(server.settle(), built)
        server_own = ("/planktos/stats", "/planktos/tracker")  # the server's, not the site's
        stray = [h for h in hits if not h.entry.path.startswith(("/sub/", "/outside.txt"))]
        stray = [h for h in stray if h.entry.path not in server_own]
        assert stray == [], describe(stray)
    finally:
        server.stop()
        print(server.output())
