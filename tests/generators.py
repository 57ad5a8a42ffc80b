"""Real MkDocs and Sphinx projects, built by the real tools, and the checks of their output.

The output checks are those of CLI builds (tests/test_build.py ``verify_site``), plus: every
published page loads the install script once, right after ``<head>``, and ``planktos build
--inject`` run on the output afterwards changes nothing, so the integrations built exactly
what the CLI builds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from planktos.cli import main
from tests.browser.sites import noise, png
from tests.test_build import manifest_of, verify_site

LOGO = png(64, 48, "logo")
DOWNLOAD = noise(1_200_000, "download")  # large: a single-file shard of its own

MKDOCS_PAGES = {
    "index.md": "# Home\n\n![logo](img/logo.png)\n\nSee the [guide](guide/index.md).\n",
    "guide/index.md": "# Guide\n\n[Install](install.md), [more](deep/more.md).\n",
    "guide/install.md": "# Install\n\n```sh\npip install planktos[mkdocs]\n```\n",
    "guide/deep/more.md": "# More\n\n![logo](../../img/logo.png)\n",
}

SPHINX_PAGES = {
    "index.rst": "Home\n====\n\n.. image:: img/logo.png\n\n.. toctree::\n\n   guide/index\n",
    "guide/index.rst": "Guide\n=====\n\n.. toctree::\n\n   install\n   deep/more\n",
    "guide/install.rst": "Install\n=======\n\n:download:`data <../files/data.bin>`\n",
    "guide/deep/more.rst": "More\n====\n\n.. image:: ../../img/logo.png\n",
}


def env(tmp: Path) -> dict[str, str]:
    """The tools' environment: temporary files (Sphinx's crash logs, mkdocs serve's site) in
    ``tmp``, the test's build cache (conftest.py) inherited."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp)}


def write_mkdocs_project(root: Path, config: str) -> Path:
    """An MkDocs project: nested pages, an image, a large download; ``config`` is appended to
    ``mkdocs.yml``. The built-in theme without highlight.js, which it loads from a CDN."""
    docs = root / "docs"
    for rel, text in MKDOCS_PAGES.items():
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        (docs / rel).write_text(text, encoding="utf-8")
    (docs / "img").mkdir(exist_ok=True)
    (docs / "img/logo.png").write_bytes(LOGO)
    (docs / "files").mkdir(exist_ok=True)
    (docs / "files/data.bin").write_bytes(DOWNLOAD)
    head = "site_name: Planktos test\ntheme:\n  name: mkdocs\n  highlightjs: false\n"
    (root / "mkdocs.yml").write_text(head + textwrap.dedent(config), encoding="utf-8")
    return root


def mkdocs(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``mkdocs ARGS -f project/mkdocs.yml`` as a user runs it (the plugin found by its entry
    point), in ``project``."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *args, "-f", str(project / "mkdocs.yml")],
        cwd=project,
        env=env(project.parent / "tmp"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_sphinx_project(root: Path, conf: str) -> Path:
    """A Sphinx project with the same pages, image and download; ``conf`` is appended to
    ``conf.py``. A favicon in the root, so Chromium's request for /favicon.ico finds one."""
    for rel, text in SPHINX_PAGES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    (root / "img").mkdir(exist_ok=True)
    (root / "img/logo.png").write_bytes(LOGO)
    (root / "files").mkdir(exist_ok=True)
    (root / "files/data.bin").write_bytes(DOWNLOAD)
    (root / "extra").mkdir(exist_ok=True)
    (root / "extra/favicon.ico").write_bytes(png(16, 16, "favicon"))
    head = 'project = "Planktos test"\nextensions = ["planktos.sphinx"]\n'
    head += 'html_extra_path = ["extra"]\n'
    (root / "conf.py").write_text(head + textwrap.dedent(conf), encoding="utf-8")
    return root


def sphinx(project: Path, builder: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``sphinx-build -b BUILDER project out ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", builder, str(project), str(out), *args],
        env=env(project.parent / "tmp"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def planktos_output(root: Path) -> list[str]:
    """Whatever Planktos writes, found anywhere under ``root``."""
    found = [p for p in root.rglob("planktos*") if p.name in ("planktos", "planktos.sw.js")]
    found += [p for p in root.rglob("*.htm*") if b"planktos/install.js" in p.read_bytes()]
    return sorted(str(p.relative_to(root)) for p in found)


def published(site: Path) -> set[str]:
    """The files a build must publish: all but dotfiles and Planktos's own output."""
    out = set()
    for path in site.rglob("*"):
        rel = path.relative_to(site).as_posix()
        hidden = any(part.startswith(".") for part in rel.split("/"))
        own = rel.startswith(("planktos.sw.js", "planktos/"))
        if path.is_file() and not hidden and not own:
            out.add(rel)
    return out


def check_built(site: Path, base: str | None) -> dict[str, Any]:
    """The checks of a CLI build with ``--inject`` (and ``--base-url base``); returns the
    manifest."""
    manifest = verify_site(site)
    assert manifest["base"] == base
    assert {unquote(url) for url in manifest["files"]} == published(site)
    tag = f'<script src="{base or "/"}planktos/install.js" async></script>'
    pages = sorted(p for p in site.rglob("*.html") if "planktos" not in p.relative_to(site).parts)
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert text.count("planktos/install.js") == 1, page
        assert re.search(r"<head(\s[^>]*)?>" + re.escape(tag), text, re.I), page
    before = {p: p.read_bytes() for p in pages}
    args = ["build", "--root", str(site), "--inject", "--quiet"]
    assert main([*args, "--base-url", base] if base else args) == 0
    assert manifest_of(site) == manifest
    assert {p: p.read_bytes() for p in pages} == before
    return manifest
