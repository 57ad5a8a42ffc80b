"""Shared fixtures: an isolated build cache and small example sites."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep every test's build cache out of the user's home."""
    old = os.environ.get("PLANKTOS_CACHE_DIR")
    os.environ["PLANKTOS_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        del os.environ["PLANKTOS_CACHE_DIR"]
    else:
        os.environ["PLANKTOS_CACHE_DIR"] = old


def write(root: Path, rel: str, data: bytes | str) -> Path:
    """Create ``root/rel`` with ``data``, making parent directories."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A small site with pages, assets, a large file, awkward names and things to skip."""
    root = tmp_path / "site"
    write(root, "index.html", "<!doctype html><title>home</title>")
    write(root, "about/index.html", "<!doctype html><title>about</title>")
    write(root, "css/style.css", "body { color: teal }\n" * 50)
    for i in range(40):
        write(root, f"blog/post-{i:02}.html", f"<p>post {i}</p>" * (i * 37 + 1))
    write(root, "media/clip.webm", os.urandom(1_500_000))
    write(root, "a b%#?é.txt", "awkward name\n")
    write(root, "empty.txt", b"")
    write(root, ".env", "SECRET=1")
    write(root, ".git/config", "[core]")
    write(root, "docs/.hidden/x.html", "no")
    return root
