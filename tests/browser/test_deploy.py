"""The README's nginx and Caddy configurations, as written, in front of the built test site
(and ``planktos serve --base-url /docs/`` alone, the preview of a sub-path site):
a Chromium visitor gets a page whose service worker takes control, whose agent joins the
tracker through the proxy, and whose files then come through the worker; ``planktos check``
finds nothing wrong. ``planktos serve`` runs beside the web server for the tracker and stats.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from planktos.check.site import check_site
from tests.browser.browsers import Visitors
from tests.browser.probes import (
    arrive,
    expected_state,
    fetch_seen,
    page_state,
    sha256,
    until_page_complete,
)
from tests.browser.sites import PAGE_A, PAGE_B, VIDEO, planktos_build, site_files
from tests.deploy import caddy, nginx, readme_block
from tests.servers import Served, planktos_serve

FILES = site_files()


@contextmanager
def serve_only(url: str) -> Iterator[str]:
    """No web server in front: ``planktos serve --base-url /docs/`` itself."""
    yield url


def front(server: str, root: Path, workdir: Path, served: Served) -> AbstractContextManager[str]:
    """The web server ``server`` with its README configuration, serving ``root``."""
    port = served.port
    if server == "serve-base-url":
        return serve_only(served.url)
    if server == "caddy":
        return caddy(readme_block("caddy"), root, workdir, port)
    if server == "nginx":
        return nginx(readme_block("nginx", "location = /planktos/tracker"), root, workdir, port)
    return nginx(readme_block("nginx", "location = /docs/planktos/tracker"), root, workdir, port)


@pytest.mark.parametrize("server", ["nginx", "nginx-sub-path", "caddy", "serve-base-url"])
async def test_readme_configuration_serves_a_visitor(
    server: str, visitors: Visitors, site_root: Path, tmp_path: Path
) -> None:
    sub = server in ("nginx-sub-path", "serve-base-url")
    site, docroot = site_root, site_root
    if sub:  # the built site in www/docs/, rebuilt for that path, nginx's root at www/
        docroot = tmp_path / "www"
        site = Path(shutil.copytree(site_root, docroot / "docs", symlinks=True))
        planktos_build(site, "--base-url", "/docs/", "--quiet")
    args = ("--base-url", "/docs/") if server == "serve-base-url" else ()
    with (
        planktos_serve(site, *args) as served,
        front(server, docroot, tmp_path / server, served) as url,
    ):
        base = url + ("docs/" if sub else "")
        visitor = await visitors.new("A")
        page = await arrive(visitor, base + PAGE_A.url)  # controlled, agent joined the tracker
        second = await visitor.context.new_page()
        response = await second.goto(base + PAGE_B.url)
        assert response is not None and response.from_service_worker
        await until_page_complete(second, PAGE_B)
        assert await page_state(second, PAGE_B) == expected_state(PAGE_B)
        seen = await fetch_seen(page, base + VIDEO, headers={"Range": "bytes=1000-1999"})
        assert seen.from_sw and seen.status == 206
        assert seen.sha256 == sha256(FILES[VIDEO][1000:2000])
        report = await check_site(base, pages=1)
        problems = [f.line() for f in report.findings if f.level != "ok"]
        assert not problems, "\n".join(problems)
        assert {f.area for f in report.findings} >= {"worker", "tracker", "stats", "web seeds"}
