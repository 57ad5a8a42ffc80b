"""Sites built by the MkDocs plugin and the Sphinx extension, in Chromium: the service worker
takes control and answers the site's pages and images."""

from __future__ import annotations

from pathlib import Path

from tests.browser.browsers import Visitors
from tests.browser.origin import Origin
from tests.browser.probes import fetch_seen, sha256, until_controlled
from tests.generators import LOGO, mkdocs, sphinx, write_mkdocs_project, write_sphinx_project


async def visit(visitors: Visitors, origin: Origin, home: str, nested: str, image: str) -> None:
    """Open ``home``; once the worker controls it, a nested page and an image come from it."""
    visitor = await visitors.new("A")
    page = await visitor.open(origin.url + home)
    await until_controlled(page)
    seen = await fetch_seen(page, origin.url + image)
    assert seen.from_sw and (seen.status, seen.sha256) == (200, sha256(LOGO))
    assert seen.headers["x-planktos-source"] in ("store", "peer", "origin")
    second = await visitor.context.new_page()
    response = await second.goto(origin.url + nested)
    assert response is not None and response.ok and response.from_service_worker
    await until_controlled(second)


async def test_mkdocs_site_under_its_site_url_path(visitors: Visitors, tmp_path: Path) -> None:
    """site_url's path /docs/ is the base; `planktos serve` of the parent has its tracker at
    /planktos/tracker, outside the base, hence the trackers option."""
    project = write_mkdocs_project(
        tmp_path / "project",
        """
        site_url: https://example.org/docs/
        site_dir: ../root/docs
        plugins:
          - search
          - planktos:
              trackers: [/planktos/tracker]
        """,
    )
    run = mkdocs(project, "build")
    assert run.returncode == 0, run.stderr
    origin = Origin(tmp_path / "root", tmp_path / "access.log")
    origin.start()
    try:
        await visit(visitors, origin, "docs/", "docs/guide/deep/more/", "docs/img/logo.png")
    finally:
        origin.stop()
        print(origin.output())


async def test_sphinx_site_at_the_root(visitors: Visitors, tmp_path: Path) -> None:
    project = write_sphinx_project(tmp_path / "src", "")
    out = tmp_path / "out"
    run = sphinx(project, "html", out)
    assert run.returncode == 0, run.stderr
    origin = Origin(out, tmp_path / "access.log")
    origin.start()
    try:
        await visit(visitors, origin, "", "guide/deep/more.html", "_images/logo.png")
    finally:
        origin.stop()
        print(origin.output())
