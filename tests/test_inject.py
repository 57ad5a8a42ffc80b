"""planktos build --inject: the install script tag in every page's <head>, exactly once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from planktos.cli import main
from tests.conftest import write


@pytest.fixture
def pages(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write(root, "index.html", "<!doctype html><html><head><title>x</title></head><body></body>")
    write(root, "a/b.htm", "<HTML><HEAD lang='en'>\n<meta charset=utf-8></HEAD></HTML>")
    write(root, "done.html", '<head><script defer src="/planktos/install.js"></script></head>')
    write(root, "fragment.html", "<p>no head here</p><header>not a head</header>")
    write(root, "style.css", "head { color: red }")
    (root / "index.html").chmod(0o640)
    return root


def test_inject_adds_the_tag_once(pages: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--root", str(pages), "--inject"]) == 0
    out = capsys.readouterr().out
    assert "injected into 2 pages (1 had it)" in out and "fragment.html" in out
    tag = '<script src="/planktos/install.js" async></script>'
    index = (pages / "index.html").read_text()
    assert index == f"<!doctype html><html><head>{tag}<title>x</title></head><body></body>"
    assert (pages / "a/b.htm").read_text().startswith(f"<HTML><HEAD lang='en'>{tag}\n")
    assert (pages / "fragment.html").read_text() == "<p>no head here</p><header>not a head</header>"
    assert (pages / "style.css").read_text() == "head { color: red }"
    assert (pages / "index.html").stat().st_mode & 0o777 == 0o640
    # The manifest hashes the pages as injected, and a second run changes nothing.
    manifest = json.loads((pages / "planktos/manifest.json").read_text())
    before = {p: p.read_bytes() for p in pages.rglob("*.htm*")}
    assert main(["build", "--root", str(pages), "--inject", "--quiet"]) == 0
    assert {p: p.read_bytes() for p in pages.rglob("*.htm*")} == before
    assert json.loads((pages / "planktos/manifest.json").read_text())["build"] == manifest["build"]


def test_inject_respects_the_base_url_path(pages: Path) -> None:
    assert (
        main(
            [
                "build",
                "--root",
                str(pages),
                "--inject",
                "--base-url",
                "https://example.org/docs/",
                "--quiet",
            ]
        )
        == 0
    )
    assert '<script src="/docs/planktos/install.js" async>' in (pages / "index.html").read_text()


def test_inject_and_uninstall_conflict(pages: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = os.stat(pages / "index.html").st_mtime_ns
    assert main(["build", "--root", str(pages), "--inject", "--uninstall"]) == 1
    err = capsys.readouterr().err
    assert "--inject" in err and err.count("\n") == 1
    assert os.stat(pages / "index.html").st_mtime_ns == before


def test_a_rebuild_does_not_read_pages_it_saw_loading_the_script(
    pages: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unchanged pages that load install.js, or have no <head>, cost no read (a large site's
    rebuild) and are reported as before; changed ones are read again."""
    import planktos.inject

    assert main(["build", "--root", str(pages), "--inject", "--quiet"]) == 0
    old = 1_000_000_000  # long ago: not racily new
    for page in pages.rglob("*.htm*"):
        os.utime(page, (old, old))
    assert main(["build", "--root", str(pages), "--inject", "--quiet"]) == 0  # reads, notes
    read: list[str] = []
    real_open = open

    def counting_open(path: str, *args: object, **kwargs: object) -> object:
        read.append(os.path.basename(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(planktos.inject, "open", counting_open, raising=False)
    assert main(["build", "--root", str(pages), "--inject"]) == 0
    assert read == []
    out = capsys.readouterr().out
    assert "injected into 0 pages (3 had it), not into 1 without <head>: fragment.html" in out
    write(pages, "done.html", "<head><title>new</title></head>")
    assert main(["build", "--root", str(pages), "--inject", "--quiet"]) == 0
    assert read == ["done.html"]
    assert "install.js" in (pages / "done.html").read_text()


def test_a_failing_build_rewrites_no_page(pages: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The pages are renamed into place with the output, not before: a build that fails
    (here: a planktos/ directory it did not write) leaves them pointing at nothing new."""
    from tests.test_build_errors import snapshot

    write(pages, "planktos/notes.txt", "mine")
    before = snapshot(pages)
    assert main(["build", "--root", str(pages), "--inject"]) == 1
    assert "was not written by planktos" in capsys.readouterr().err
    assert snapshot(pages) == before


def test_a_build_failing_while_hashing_rewrites_no_page(pages: Path) -> None:
    from planktos.build import BuildOptions, build
    from planktos.errors import BuildError
    from tests.test_build_errors import _Mutator, snapshot

    build(BuildOptions(root=pages))
    big = write(pages, "media/growing.bin", os.urandom(3 * 1024 * 1024))
    before = snapshot(pages)
    with pytest.raises(BuildError, match="changed while being hashed"):
        build(BuildOptions(root=pages, jobs=1, inject=True), _Mutator(big))
    after = snapshot(pages)
    assert after.pop("media/growing.bin") != before.pop("media/growing.bin")
    assert after == before


def test_a_page_and_a_symlink_to_it(pages: Path) -> None:
    """Both names publish the injected page; it is rewritten once."""
    from tests.test_build import manifest_of, verify_site

    (pages / "home.html").symlink_to("index.html")
    assert main(["build", "--root", str(pages), "--inject", "--quiet"]) == 0
    files = manifest_of(pages)["files"]
    assert files["home.html"]["sha256"] == files["index.html"]["sha256"]
    assert (pages / "index.html").read_text().count("planktos/install.js") == 1
    assert (pages / "home.html").is_symlink()
    verify_site(pages)
    assert not [p for p in pages.rglob(".planktos-*")]


def test_pages_left_by_a_killed_build_are_removed(pages: Path) -> None:
    """A build killed before its commit leaves rewritten pages as dot-files beside the pages;
    the next build deletes them (they are never published either way)."""
    from planktos.build import BuildOptions, build

    write(pages, "a/.planktos-inject-k1ll3d", "<head><script></script></head>")
    write(pages, "a/.planktos-kept", "a dotfile of the user's")
    result = build(BuildOptions(root=pages, inject=True))
    assert not (pages / "a/.planktos-inject-k1ll3d").exists()
    assert (pages / "a/.planktos-kept").exists()
    assert [s.rel for s in result.skipped] == ["a/.planktos-kept"]
