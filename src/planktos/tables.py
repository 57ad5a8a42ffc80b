"""The file tables of manifest version 2: a content-addressed tree over the site's URL paths.

A visitor needs the entries of the files it views, not those of the whole site. The entries
are cut, in the order of their keys (percent-encoded URL paths: ASCII, so that Python and
JavaScript order them alike), into *leaves*; leaves are grouped under *inner nodes*, level by
level, until at most ``ROOT_MAX`` are left: the *root*, carried inline by the top-level
manifest, lists them (a small site's root is one leaf holding every entry: no table at all). Every
other node is published as ``planktos/i/<sha256>.json``, named by the SHA-256 of its bytes,
which its parent records: the service worker verifies a table against that digest before it
trusts anything in it, so every file's hash is still authenticated by the top level.

* leaf: ``{"files": {key: entry}, "shards": {shard id: shard}}`` (the shards its files use)
* inner node: ``{"tables": [[first key, sha256], ...]}``, sorted by key; a key belongs to the
  last child whose first key is not greater than it.

Boundaries are content-defined on the paths, like the shards' (:mod:`planktos.shards`): a
leaf ends after a file whose path hash is 0 modulo ``LEAF_FILES`` (the shards' own hash and
``GROUP_FILES``, so a leaf mostly holds one whole shard), and an inner node after a child
whose last path hashes (other bits) to 0 modulo ``FANOUT``, within bounds. So one changed
file changes one leaf and its ancestors: the other tables keep their names, for the build
(nothing to write) and for returning visitors (nothing to fetch). A file with chunk hashes
(a large file) gets a leaf of its own, so that its thousand digests burden no neighbour.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

# Average, least and most entries of a leaf and children of an inner node. A lookup pays for
# one node per level, and the node holding a random key tends to be a large one: the bounds
# keep sizes near the average (a hash boundary closer than the least is skipped).
LEAF_FILES = 32  # as GROUP_FILES: a leaf mostly holds one shard
LEAF_MIN = 8
LEAF_MAX = 64
FANOUT = 32
FANOUT_MIN = 8
FANOUT_MAX = 64
ROOT_MAX = 128  # children the top level's root may list (≈ 6 KB gzipped)
INLINE_MAX = 16 * 1024  # entries of a small site, serialized: the top level carries them all
TABLE_DIR = "planktos/i"

Node = dict[str, Any]


def dumps(node: Any) -> str:
    """Canonical JSON: sorted keys, no spaces."""
    return json.dumps(node, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def path_hash(rel: str) -> tuple[int, int]:
    """Two 32-bit hashes of a decoded path that place boundaries: the first is the shards' own
    (:func:`planktos.shards.plan`), for leaves; the second, for inner nodes, 6 bits a level."""
    digest = hashlib.sha1(rel.encode()).digest()
    return int.from_bytes(digest[:4]), int.from_bytes(digest[4:8])


def table_path(sha: str) -> str:
    """Where a table is published, relative to the site base."""
    return f"{TABLE_DIR}/{sha}.json"


class Tree:
    """The tables of one build: the root node and every other node's bytes by SHA-256."""

    def __init__(self) -> None:
        self.tables: dict[str, bytes] = {}

    def publish(self, node: Node) -> str:
        data = dumps(node).encode()
        sha = hashlib.sha256(data).hexdigest()
        self.tables[sha] = data
        return sha


def build_tree(
    entries: dict[str, dict[str, Any]],
    rels: dict[str, str],
    shards: dict[str, dict[str, Any]],
) -> tuple[Node, dict[str, bytes]]:
    """The root node over ``entries`` (key → manifest entry) and the published tables.

    ``rels`` maps each key to its decoded path (whose hash places boundaries); ``shards``
    holds every shard's fields, copied into the leaves that use them.
    """
    # Entries are ≥ 60 bytes: past INLINE_MAX / 60 of them, none to encode to know it.
    if len(entries) <= INLINE_MAX // 60 and len(dumps(entries)) <= INLINE_MAX:
        used = {e["shard"] for e in entries.values() if "shard" in e}
        return {"files": entries, "shards": {s: shards[s] for s in sorted(used)}}, {}
    tree = Tree()
    leaves: list[tuple[str, str, Node]] = []  # (first key, last key, node)
    current: dict[str, dict[str, Any]] = {}

    def close() -> None:
        nonlocal current
        if current:
            used = {e["shard"] for e in current.values() if "shard" in e}
            node = {"files": current, "shards": {s: shards[s] for s in sorted(used)}}
            keys = list(current)
            leaves.append((keys[0], keys[-1], node))
        current = {}

    for key in sorted(entries):
        entry = entries[key]
        chunked = "chunks" in entry
        if chunked:
            close()
        current[key] = entry
        boundary = path_hash(rels[key])[0] % LEAF_FILES == 0 and len(current) >= LEAF_MIN
        if chunked or boundary or len(current) >= LEAF_MAX:
            close()
    close()
    level: list[tuple[str, str, Node]] = leaves
    depth = 0
    while len(level) > ROOT_MAX:
        shift = 5 * depth  # other bits of the path hash at every level (FANOUT = 2**5)
        depth += 1
        parents: list[tuple[str, str, Node]] = []
        children: list[list[str]] = []
        first = ""
        for low, high, node in level:
            if not children:
                first = low
            children.append([low, tree.publish(node)])
            last = (path_hash(rels[high])[1] >> shift) % FANOUT == 0
            if (last and len(children) >= FANOUT_MIN) or len(children) >= FANOUT_MAX:
                parents.append((first, high, {"tables": children}))
                children = []
        if children:
            parents.append((first, level[-1][1], {"tables": children}))
        if len(parents) == len(level):  # no boundary at all: force progress
            parents = _group_evenly(level, tree)
        level = parents
    if len(level) == 1:
        return level[0][2], tree.tables
    return {"tables": [[low, tree.publish(node)] for low, _, node in level]}, tree.tables


def _group_evenly(level: list[tuple[str, str, Node]], tree: Tree) -> list[tuple[str, str, Node]]:
    out = []
    for i in range(0, len(level), FANOUT):
        part = level[i : i + FANOUT]
        node = {"tables": [[low, tree.publish(n)] for low, _, n in part]}
        out.append((part[0][0], part[-1][1], node))
    return out


def is_leaf(node: object) -> bool:
    """Whether ``node`` is a leaf (files and shards) rather than an inner node."""
    return isinstance(node, dict) and isinstance(node.get("files"), dict)


def walk(root: Node, load: Callable[[str], Node]) -> Iterator[tuple[Node, list[str]]]:
    """Every leaf under ``root`` with the hashes of the tables read to reach it (in order).

    ``load(sha)`` returns the node of a table; it should check the digest.
    """
    stack: list[tuple[Node, list[str]]] = [(root, [])]
    while stack:
        node, path = stack.pop()
        if is_leaf(node):
            yield node, path
            continue
        tables = node.get("tables")
        if not isinstance(tables, list):
            raise ValueError("a manifest table is neither a leaf nor an inner node")
        for _, sha in reversed(tables):
            stack.append((load(sha), [*path, sha]))


def read_table(data: bytes, sha: str) -> Node:
    """A table's node from its bytes, checked against its SHA-256 (ValueError otherwise)."""
    if hashlib.sha256(data).hexdigest() != sha:
        raise ValueError(f"manifest table {sha} does not match its SHA-256")
    node = json.loads(data)
    if not isinstance(node, dict):
        raise ValueError(f"manifest table {sha} is not an object")
    return node
