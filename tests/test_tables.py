"""Manifest version 2: the top level and its content-addressed tables (planktos.tables)."""

from __future__ import annotations

import bisect
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from planktos.build import BuildOptions, build
from planktos.manifest import info_hashes, read_full, read_manifest, references
from planktos.tables import INLINE_MAX, LEAF_MAX, ROOT_MAX, build_tree, is_leaf, read_table, walk
from tests.conftest import write


def entries(n: int, prefix: str = "p") -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    files: dict[str, dict[str, Any]] = {}
    for i in range(n):
        key = f"{prefix}/{i // 100:04}/page-{i:06}.html"
        files[key] = {"shard": "g", "length": i, "sha256": hashlib.sha256(key.encode()).hexdigest()}
    return files, {k: k for k in files}


SHARDS = {"g": {"infohash": "0" * 40}}


def find(root: dict[str, Any], tables: dict[str, bytes], key: str) -> tuple[Any, list[str]]:
    """What the service worker does: the last child whose first key is <= key, to a leaf."""
    node, path = root, []
    while not is_leaf(node):
        firsts = [c[0] for c in node["tables"]]
        i = bisect.bisect_right(firsts, key) - 1
        if i < 0:
            return None, path
        sha = node["tables"][i][1]
        path.append(sha)
        node = read_table(tables[sha], sha)
    return node["files"].get(key), path


def test_a_small_site_needs_no_table() -> None:
    files, rels = entries(20)
    assert len(json.dumps(files)) < INLINE_MAX
    root, tables = build_tree(files, rels, SHARDS)
    assert root == {"files": files, "shards": SHARDS} and tables == {}


def test_every_key_is_found_through_verified_tables_and_nothing_else_is() -> None:
    files, rels = entries(20_000)
    root, tables = build_tree(files, rels, SHARDS)
    assert "tables" in root and len(root["tables"]) <= ROOT_MAX
    for key in [*list(files)[::97], max(files), min(files)]:
        entry, path = find(root, tables, key)
        assert entry == files[key] and 1 <= len(path) <= 3
    assert find(root, tables, "a.html")[0] is None  # before the first key
    assert find(root, tables, "p/0000/page-000000.htm")[0] is None
    leaves = list(walk(root, lambda sha: read_table(tables[sha], sha)))
    assert sum(len(leaf["files"]) for leaf, _ in leaves) == len(files)
    assert max(len(leaf["files"]) for leaf, _ in leaves) <= LEAF_MAX
    for name, data in tables.items():
        assert hashlib.sha256(data).hexdigest() == name


def test_one_changed_file_changes_one_leaf_and_its_ancestors() -> None:
    files, rels = entries(20_000)
    root, before = build_tree(files, rels, SHARDS)
    key = "p/0123/page-012345.html"
    files[key] = dict(files[key], sha256="f" * 64)
    root2, after = build_tree(files, rels, SHARDS)
    _, path = find(root2, after, key)
    assert root2 != root
    assert set(after) - set(before) == set(path)  # every other table keeps its name
    # Adding a file touches its leaf and the ancestors, give or take a neighbour.
    files["p/0123/page-012345a.html"] = dict(files[key])
    rels["p/0123/page-012345a.html"] = "p/0123/page-012345a.html"
    _, added = build_tree(files, rels, SHARDS)
    assert len(set(added) - set(after)) <= 2 * len(path) + 2


def test_a_chunked_file_gets_a_leaf_of_its_own() -> None:
    files, rels = entries(2_000)
    video = "p/0005/page-000550.webm"
    files[video] = {
        "shard": "g",
        "length": 1,
        "chunks_sha256": "a" * 64,
        "chunks": ["b" * 64] * 500,
    }
    rels[video] = video
    root, tables = build_tree(files, rels, SHARDS)
    leaf_of: dict[str, Any] = {}
    for leaf, _ in walk(root, lambda sha: read_table(tables[sha], sha)):
        for key in leaf["files"]:
            leaf_of[key] = leaf
    assert list(leaf_of[video]["files"]) == [video]


@pytest.fixture
def big_site(tmp_path: Path) -> Path:
    for i in range(400):
        write(tmp_path, f"docs/s{i // 50}/page-{i:04}.html", f"<p>page {i} " + "x" * 40 + "</p>")
    return tmp_path


def tables_on_disk(site: Path) -> set[str]:
    """The tables in ``planktos/i``; each has its gzip copy, and no copy is left alone."""
    names = {p.name for p in (site / "planktos/i").iterdir()}
    tables = {n.removesuffix(".json") for n in names if n.endswith(".json")}
    assert names == {f"{t}.json" for t in tables} | {f"{t}.json.gz" for t in tables}
    return tables


def test_build_writes_tables_and_keeps_the_previous_builds_only(big_site: Path) -> None:
    manifest_path = big_site / "planktos/manifest.json"
    build(BuildOptions(root=big_site))
    first_infohashes, first_tables = references(manifest_path)
    top = read_manifest(manifest_path)
    assert top["version"] == 2 and top["tables"] == "planktos/i/" and "tables" in top["index"]
    on_disk = tables_on_disk(big_site)
    assert on_disk == first_tables
    assert info_hashes(manifest_path) == {bytes.fromhex(h) for h in first_infohashes}
    assert len(read_full(manifest_path)["files"]) == 400
    # One page changes: a few new tables; the previous build's stay for pinned visitors.
    write(big_site, "docs/s3/page-0170.html", "<p>changed</p>")
    build(BuildOptions(root=big_site))
    _, second_tables = references(manifest_path)
    assert len(second_tables - first_tables) <= 4
    on_disk = tables_on_disk(big_site)
    assert on_disk == first_tables | second_tables
    # Another build: the first build's own tables go.
    write(big_site, "docs/s5/page-0260.html", "<p>changed too</p>")
    build(BuildOptions(root=big_site))
    _, third_tables = references(manifest_path)
    on_disk = tables_on_disk(big_site)
    assert on_disk == second_tables | third_tables


def test_the_top_level_stays_small(big_site: Path) -> None:
    build(BuildOptions(root=big_site))
    text = (big_site / "planktos/manifest.json").read_bytes()
    assert len(gzip.compress(text)) < 2_000


@pytest.mark.parametrize("version", [1, 3, "2"])
def test_readers_refuse_versions_they_do_not_know(tmp_path: Path, version: object) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"format": "planktos-manifest", "version": version, "shards": {}}))
    with pytest.raises(ValueError, match="version"):
        read_manifest(path)
    with pytest.raises(ValueError):
        info_hashes(path)


def test_a_damaged_table_is_refused(big_site: Path) -> None:
    build(BuildOptions(root=big_site))
    manifest_path = big_site / "planktos/manifest.json"
    table = next((big_site / "planktos/i").glob("*.json"))
    table.write_bytes(table.read_bytes().replace(b"a", b"b", 1) + b" ")
    with pytest.raises(ValueError, match="SHA-256"):
        read_full(manifest_path) if table.stem != read_manifest(manifest_path)[
            "refs"
        ] else info_hashes(manifest_path)
