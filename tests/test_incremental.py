"""Rebuilds that keep the previous build's shards and tables (planktos.state): they redo only
what changed, and their output is byte for byte that of a build from scratch."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import planktos.build
from planktos.build import BuildOptions, BuildResult, build
from planktos.manifest import read_full, references
from planktos.shards import LARGE_FILE
from tests.conftest import write

LONG_AGO = 1_500_000_000_000_000_000  # 2017: not racily new


def age(root: Path, step: int) -> None:
    """Give the site files modified lately an old mtime, distinct per step, so that the state
    may record them (files modified just now are racily new) and an edit still shows."""
    for path in root.rglob("*"):
        top = path.relative_to(root).parts[0]
        recent = path.stat().st_mtime_ns > LONG_AGO + 10**15
        if path.is_file() and not top.startswith("planktos") and recent:
            os.utime(path, ns=(LONG_AGO + step, LONG_AGO + step))


def page(i: int, extra: str = "") -> str:
    return f"<!doctype html><head><title>{i}</title></head><p>page {i} {extra}</p>" * (i % 5 + 1)


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A site with more files than the top level carries inline: several leaf tables."""
    root = tmp_path / "big"
    for i in range(700):
        write(root, f"s{i // 100}/p{i:04}.html", page(i))
    write(root, "media/a.bin", random.Random(1).randbytes(LARGE_FILE + 5))
    write(root, "media/b.bin", (root / "media/a.bin").read_bytes())  # an alias of a.bin
    write(root, "weird/a b%é.txt", "awkward name")
    write(root, "empty.txt", b"")
    age(root, 0)
    return root


def published(root: Path) -> dict[str, bytes]:
    """What the site's current manifest refers to: the top level, its tables and torrents,
    and the web seed links (path → content), by path under planktos/."""
    out = root / "planktos"
    infohashes, tables = references(out / "manifest.json")
    files = {"manifest.json": (out / "manifest.json").read_bytes()}
    files |= {f"i/{t}.json": (out / "i" / f"{t}.json").read_bytes() for t in tables}
    files |= {f"t/{h}.torrent": (out / "t" / f"{h}.torrent").read_bytes() for h in infohashes}
    for h in infohashes:
        for path in (out / "w" / h).rglob("*"):
            if path.is_file():
                files[str(path.relative_to(out))] = path.read_bytes()
    return files


def from_scratch(root: Path, tmp: Path, inject: bool = False) -> dict[str, bytes]:
    """What a first build of a copy of ``root`` (no output, no cache) publishes."""
    copy = tmp / "scratch"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("planktos", "planktos.sw.js*"))
    build(BuildOptions(root=copy, inject=inject, cache_dir=tmp / "scratch-cache"))
    return published(copy)


def calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, dict[str, Any]]]:
    """Record the arguments of each call of ``planktos.build.<name>`` (which still runs)."""
    seen: list[tuple[Any, dict[str, Any]]] = []
    real: Callable[..., Any] = getattr(planktos.build, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(planktos.build, name, spy)
    return seen


def test_one_changed_page_rebuilds_only_its_shard_and_equals_a_fresh_build(
    big: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(BuildOptions(root=big))
    before = read_full(big / "planktos/manifest.json")
    write(big, "s3/p0345.html", page(345, "edited"))
    age(big, 1)
    encoded = calls(monkeypatch, "info_bytes")
    hashed = calls(monkeypatch, "hash_shard")
    result = build(BuildOptions(root=big))
    after = read_full(big / "planktos/manifest.json")
    shard = after["files"]["s3/p0345.html"]["shard"]
    changed = {k for k, s in after["shards"].items() if before["shards"].get(k) != s}
    assert changed == {shard} and result.changed_shards == 1
    assert [args[0].key for args, _ in encoded] == [shard]  # one info dictionary encoded
    assert len(hashed) == 1 and result.hashed_bytes == after["shards"][shard]["length"]
    assert published(big) == from_scratch(big, tmp_path)


def test_nothing_changed_rebuilds_nothing(big: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build(BuildOptions(root=big))
    before = published(big)
    hashed = calls(monkeypatch, "hash_shard")
    result = build(BuildOptions(root=big))
    assert hashed == [] and result.hashed_bytes == 0 and result.build == first.build
    assert published(big) == before


def test_inject_rewrites_no_unchanged_page(big: Path, tmp_path: Path) -> None:
    build(BuildOptions(root=big, inject=True))
    age(big, 1)  # the injected pages were just written
    build(BuildOptions(root=big, inject=True))
    stats = {p: os.stat(p) for p in big.rglob("*.html")}
    write(big, "s2/p0201.html", page(201, "edited"))  # no tag: injected
    write(big, "s2/p0202.html", page(202, "edited").replace("<head>", "<head>" + tag()))
    age(big, 2)
    result = build(BuildOptions(root=big, inject=True))
    assert result.injected is not None and result.injected.injected == ["s2/p0201.html"]
    for path, st in stats.items():
        if path.name not in ("p0201.html", "p0202.html"):
            now = os.stat(path)
            assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), path
    assert published(big) == from_scratch(big, tmp_path, inject=True)


def tag() -> str:
    return '<script src="/planktos/install.js" async></script>'


def edit(root: Path, rng: random.Random, step: int) -> str:
    """One random change to the site; returns what it did."""
    pages = sorted(p for p in root.rglob("*.html") if "planktos" not in p.parts)
    victim = rng.choice(pages)
    kind = rng.choice(
        ["modify", "modify", "add", "remove", "rename", "empty", "grow", "shrink", "copy"]
    )
    if kind == "modify":
        victim.write_text(page(step, "x" * rng.randrange(1, 3000)))
    elif kind == "add":
        for _ in range(rng.randrange(1, 40)):
            write(root, f"s{rng.randrange(9)}/new-{step}-{rng.randrange(10**6)}.html", page(step))
    elif kind == "remove":
        for path in rng.sample(pages, rng.randrange(1, 30)):
            path.unlink()
    elif kind == "rename":
        victim.rename(victim.with_name("renamed-" + victim.name))
    elif kind == "empty":
        victim.write_bytes(b"")
    elif kind == "grow":
        victim.write_bytes(rng.randbytes(LARGE_FILE + rng.randrange(2)))
    elif kind == "shrink":
        large = [p for p in root.rglob("*") if p.is_file() and p.stat().st_size >= LARGE_FILE]
        if large:
            rng.choice(large).write_text("small again")
    elif kind == "copy":
        large = [p for p in root.rglob("*") if p.is_file() and p.stat().st_size >= LARGE_FILE]
        if large:
            shutil.copyfile(rng.choice(large), root / f"media/copy-{step}.bin")
    age(root, step)
    return f"{kind} {victim.relative_to(root)}"


@pytest.mark.parametrize("seed", range(3))
def test_every_rebuild_equals_a_build_from_scratch(big: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    build(BuildOptions(root=big))
    for step in range(1, 7):
        what = edit(big, rng, step)
        result: BuildResult = build(BuildOptions(root=big))
        assert published(big) == from_scratch(big, tmp_path), what
        assert result.build == read_full(big / "planktos/manifest.json")["build"]


def test_what_was_deleted_from_the_output_is_written_again(big: Path, tmp_path: Path) -> None:
    build(BuildOptions(root=big))
    expected = published(big)
    tables = sorted((big / "planktos/i").iterdir())
    torrents = sorted((big / "planktos/t").iterdir())
    for path in (tables[0], tables[-1], torrents[0], torrents[-1]):
        path.unlink()
    build(BuildOptions(root=big))
    assert published(big) == expected == from_scratch(big, tmp_path)


def test_a_damaged_previous_table_means_a_build_from_scratch(
    big: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(BuildOptions(root=big))
    # A leaf over two shards: editing a file of one, the build reads the other's entries
    # from the previous leaf. Damage that leaf.
    leaf = next(
        path
        for path in sorted((big / "planktos/i").glob("*.json"))
        if len(json.loads(path.read_bytes()).get("shards", {})) >= 2
    )
    node = json.loads(leaf.read_bytes())
    edited = next(k for k, e in node["files"].items() if k.endswith(".html"))
    write(big, edited, page(1, "edited"))
    age(big, 1)
    leaf.write_bytes(leaf.read_bytes().replace(b'"index":', b'"index" :', 1))
    attempts = calls(monkeypatch, "_build_site")
    build(BuildOptions(root=big))
    assert [kw["reuse"] for _, kw in attempts] == [True, False]  # reuse, then from scratch
    assert published(big) == from_scratch(big, tmp_path)


def test_a_copy_whose_original_changed_gets_a_shard_of_its_own(big: Path, tmp_path: Path) -> None:
    """media/b.bin shared media/a.bin's shard (same content); a.bin changes: b.bin's shard
    is its own now, its torrent naming its own web seed, as in a build from scratch."""
    base = "https://example.org/site/"
    build(BuildOptions(root=big, base_url=base))
    write(big, "media/a.bin", "small now")
    age(big, 1)
    build(BuildOptions(root=big, base_url=base))
    copy = tmp_path / "scratch"
    shutil.copytree(big, copy, ignore=shutil.ignore_patterns("planktos", "planktos.sw.js*"))
    build(BuildOptions(root=copy, base_url=base, cache_dir=tmp_path / "scratch-cache"))
    assert published(big) == published(copy)


def test_a_rebuild_knows_pages_load_the_script_without_reading_them(
    big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(BuildOptions(root=big, inject=True))
    age(big, 1)  # the injected pages were just written
    build(BuildOptions(root=big, inject=True))
    scans = calls(monkeypatch, "loads_install_script")
    assert build(BuildOptions(root=big)).install_tag is True and scans == []
