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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class LeafMemo:
    """A published leaf: its last key, how many keys it holds, its SHA-256 (a build records
    them so that the next one can keep the leaves none of whose files changed)."""

    last: str
    count: int
    sha: str


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


def boundary_bit(rel: str) -> bool:
    """Whether a leaf (and a shard: the same hash and modulus) may end after ``rel``:
    ``path_hash(rel)[0] % LEAF_FILES == 0``, from the hash's last byte (LEAF_FILES is 32)."""
    return hashlib.sha1(rel.encode()).digest()[3] & (LEAF_FILES - 1) == 0


def leaf_spans(
    keys: Sequence[str], boundaries: Sequence[bool], chunked: Sequence[bool]
) -> list[tuple[int, int]]:
    """Cut sorted ``keys`` into leaves, as ``(start, end)`` index ranges (end excluded).

    ``boundaries[i]`` is :func:`boundary_bit` of key ``i``'s path and ``chunked[i]`` whether
    its entry carries chunk hashes (a leaf of its own). Only keys and paths decide the cuts,
    not the entries, so a build can tell which leaves it may reuse before it makes entries.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(len(keys)):
        if chunked[i]:
            if i > start:
                spans.append((start, i))
            spans.append((i, i + 1))
            start = i + 1
            continue
        n = i + 1 - start
        if (boundaries[i] and n >= LEAF_MIN) or n >= LEAF_MAX:
            spans.append((start, i + 1))
            start = i + 1
    if start < len(keys):
        spans.append((start, len(keys)))
    return spans


def leaf_node(files: dict[str, dict[str, Any]], shards: dict[str, dict[str, Any]]) -> Node:
    """A leaf over ``files`` (key → entry, in key order) with the fields of the shards they use."""
    used = {e["shard"] for e in files.values() if "shard" in e}
    return {"files": files, "shards": {s: shards[s] for s in sorted(used)}}


def fits_inline(entries: dict[str, dict[str, Any]]) -> bool:
    """Whether a site's entries are few enough for the top level to carry them all."""
    # Entries are ≥ 60 bytes: past INLINE_MAX / 60 of them, none to encode to know it.
    return len(entries) <= INLINE_MAX // 60 and len(dumps(entries)) <= INLINE_MAX


def build_tree(
    entries: dict[str, dict[str, Any]],
    rels: dict[str, str],
    shards: dict[str, dict[str, Any]],
) -> tuple[Node, dict[str, bytes]]:
    """The root node over ``entries`` (key → manifest entry) and the published tables.

    ``rels`` maps each key to its decoded path (whose hash places boundaries); ``shards``
    holds every shard's fields, copied into the leaves that use them.
    """
    if fits_inline(entries):
        return leaf_node(entries, shards), {}
    keys = sorted(entries)
    spans = leaf_spans(
        keys, [boundary_bit(rels[k]) for k in keys], ["chunks" in entries[k] for k in keys]
    )
    level: list[Child] = [
        (keys[a], rels[keys[b - 1]], leaf_node({k: entries[k] for k in keys[a:b]}, shards))
        for a, b in spans
    ]
    tree = Tree()
    return build_levels(level, tree), tree.tables


# A child of an inner node: its first key, the path of its last key, and its node (or the
# SHA-256 of its table when that is published already).
Child = tuple[str, str, "Node | str"]


def build_levels(level: list[Child], tree: Tree) -> Node:
    """Group children (leaves at first) under inner nodes, level by level, until at most
    ``ROOT_MAX`` are left; returns the root, publishing every node below it in ``tree``."""

    def ref(node: Node | str) -> str:
        return node if isinstance(node, str) else tree.publish(node)

    depth = 0
    while len(level) > ROOT_MAX:
        shift = 5 * depth  # other bits of the path hash at every level (FANOUT = 2**5)
        depth += 1
        parents: list[Child] = []
        children: list[list[str]] = []
        first = ""
        for low, high, node in level:
            if not children:
                first = low
            children.append([low, ref(node)])
            last = (path_hash(high)[1] >> shift) % FANOUT == 0
            if (last and len(children) >= FANOUT_MIN) or len(children) >= FANOUT_MAX:
                parents.append((first, high, {"tables": children}))
                children = []
        if children:
            parents.append((first, level[-1][1], {"tables": children}))
        if len(parents) == len(level):  # no boundary at all: force progress
            parents = [
                (part[0][0], part[-1][1], {"tables": [[low, ref(n)] for low, _, n in part]})
                for part in (level[i : i + FANOUT] for i in range(0, len(level), FANOUT))
            ]
        level = parents
    if len(level) == 1 and not isinstance(level[0][2], str):
        return level[0][2]
    return {"tables": [[low, ref(node)] for low, _, node in level]}


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
