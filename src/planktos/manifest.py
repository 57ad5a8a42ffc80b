"""The manifest: what a visitor's browser needs to find, fetch and verify every file.

Format ``planktos-manifest`` version 2 (documented in the README): a small top level, revalidated
on every navigation, whose ``index`` leads to content-addressed file tables
(:mod:`planktos.tables`). Keys are sorted and the output is deterministic, so the build id, a
hash of the top level (which names every table by its SHA-256), changes exactly when something
a browser sees changes.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

from planktos import __version__
from planktos.errors import InputError
from planktos.hashing import ShardDigest
from planktos.mime import content_type
from planktos.shards import LARGE_FILE, Shard
from planktos.tables import (
    INLINE_MAX,
    TABLE_DIR,
    Child,
    LeafMemo,
    Tree,
    boundary_bit,
    build_levels,
    fits_inline,
    leaf_node,
    leaf_spans,
    read_table,
    walk,
)
from planktos.urls import url_path, url_paths
from planktos.walk import SiteFile

FORMAT = "planktos-manifest"
VERSION = 2
# Browser runtime settings (docs/runtime.md); the site owner's limits travel in the manifest.
RUNTIME_DEFAULTS: dict[str, Any] = {
    "deadline_ms": 2500,  # first bytes from the agent within this, or the SW asks the origin
    "ice_servers": [],  # WebRTC ICE servers; none: host candidates only
    "upload_kbps": None,  # upload limit per visitor; None: unlimited
    "upload_on_metered": False,  # upload under Save-Data or on a metered connection
    "max_seeded": 50,  # torrents the agent seeds at once, most recently used first
    "stats_interval_s": 60,  # seconds between a visitor's reports to /planktos/stats; 0: none
    "prefetch_bytes": 4 << 20,  # per page: linked pages' files from peers ahead of time; 0: off
}


def _whole(low: int, high: int | None = None, *, none_ok: bool = False) -> Any:
    def check(value: object) -> object:
        if value is None and none_ok:
            return None
        whole = isinstance(value, int) and not isinstance(value, bool)
        if whole and value >= low and (high is None or value <= high):  # type: ignore[operator]
            return value
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"expected a whole number {span}" + (", or null" if none_ok else ""))

    return check


def _flag(value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _stats_interval(value: object) -> object:
    _whole(0)(value)
    if 0 < value < 10:  # type: ignore[operator]
        raise ValueError("expected 0 (no reports) or at least 10 seconds")
    return value


def _ice_servers(value: object) -> object:
    wrong = ValueError(
        'expected a JSON list such as [{"urls": "stun:stun.example.com:3478"}] '
        "(optional username, credential)"
    )
    if not isinstance(value, list):
        raise wrong
    for server in value:
        if not isinstance(server, dict) or not set(server) <= {"urls", "username", "credential"}:
            raise wrong
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not urls or not isinstance(urls, list):
            raise wrong
        for url in urls:
            if not isinstance(url, str) or not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(f"ICE server URL {url!r} must start with stun:, turn: or turns:")
        if not all(isinstance(server.get(k, ""), str) for k in ("username", "credential")):
            raise wrong
    return value


# Each runtime setting's check: it returns the value or raises ValueError saying what it wants.
RUNTIME_CHECKS: dict[str, Any] = {
    "deadline_ms": _whole(100, 60_000),
    "ice_servers": _ice_servers,
    "upload_kbps": _whole(1, none_ok=True),
    "upload_on_metered": _flag,
    "max_seeded": _whole(1, 10_000),
    "stats_interval_s": _stats_interval,
    "prefetch_bytes": _whole(0, 1 << 30),
}
assert RUNTIME_CHECKS.keys() == RUNTIME_DEFAULTS.keys()


def check_runtime(settings: object, *, where: str = "runtime") -> dict[str, Any]:
    """Runtime settings a site owner gave (a mapping of name to JSON value), checked.

    Raises :class:`InputError` naming the setting and what it accepts.
    """
    if not isinstance(settings, dict):
        raise InputError(repr(settings), f"{where}: expected a mapping of settings to values")
    checked: dict[str, Any] = {}
    for name, value in settings.items():
        check = RUNTIME_CHECKS.get(name)
        if check is None:
            known = ", ".join(RUNTIME_DEFAULTS)
            raise InputError(f"{where}.{name}", f"unknown runtime setting; known: {known}")
        try:
            checked[name] = check(value)
        except ValueError as err:
            raise InputError(f"{where}.{name}={json.dumps(value)}", str(err)) from None
    return checked


def parse_runtime_option(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` of ``--runtime``; the value is JSON (``500``, ``true``, ``null``, a list)."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise InputError(text, "expected NAME=VALUE, e.g. --runtime upload_kbps=500")
    try:
        value = json.loads(raw)
    except ValueError:
        raise InputError(
            text, "the value must be JSON: a number, true, false, null or a list"
        ) from None
    return name, check_runtime({name: value}, where="--runtime")[name]


TORRENT_DIR = "planktos/t"
SEED_DIR = "planktos/w"


def read_manifest(path: Path) -> dict[str, Any]:
    """The top level of the manifest at ``path``, checked to be one this version reads.

    Raises OSError when it cannot be read and ValueError when it is not a manifest.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: not a planktos manifest ({err})") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a planktos manifest")
    if data.get("version") != VERSION:
        raise ValueError(
            f"{path}: manifest version {data.get('version')!r}; this planktos reads version "
            f"{VERSION} (run planktos build again)"
        )
    return data


def table_loader(manifest_path: Path) -> Any:
    """A function reading a table of the manifest at ``manifest_path`` by its SHA-256, checked."""
    directory = manifest_path.parent.parent / TABLE_DIR

    def load(sha: str) -> dict[str, Any]:
        return read_table((directory / f"{sha}.json").read_bytes(), sha)

    return load


def references(path: Path, top: dict[str, Any] | None = None) -> tuple[set[str], set[str]]:
    """The info hashes and the table hashes (refs table included) of the manifest at ``path``.

    Reads only the top level and its ``refs`` table. Raises OSError or ValueError.
    """
    top = top if top is not None else read_manifest(path)
    if top.get("uninstalled"):
        return set(), set()
    try:
        refs = table_loader(path)(top["refs"])
        infohashes = {str(h) for h in refs["infohashes"]}
        tables = {str(t) for t in refs["tables"]}
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a planktos manifest") from err
    return infohashes, tables | {top["refs"]}


def info_hashes(path: Path) -> frozenset[bytes]:
    """The info hashes of the shards of the manifest at ``path`` (what a tracker serves).

    Raises OSError when it cannot be read and ValueError when it is not a manifest.
    """
    return frozenset(bytes.fromhex(h) for h in references(path)[0])


def read_full(path: Path) -> dict[str, Any]:
    """The manifest at ``path`` with every table read (and checked): its top level plus
    ``files`` and ``shards`` gathered from all leaves, as one mapping. For tools and tests; a
    browser reads only the tables it needs."""
    top = read_manifest(path)
    files: dict[str, Any] = {}
    shards: dict[str, Any] = {}
    if not top.get("uninstalled"):
        for leaf, _ in walk(top["index"], table_loader(path)):
            files.update(leaf["files"])
            shards.update(leaf["shards"])
    return top | {"files": files, "shards": shards}


@dataclass(frozen=True, slots=True)
class BuiltShard:
    """A shard with its hashes and info hash, ready for the manifest.

    ``digest`` is None for a shard kept from the previous build unread (:mod:`planktos.state`):
    its entries come from the previous build's tables.
    """

    shard: Shard
    digest: ShardDigest | None
    info_hash: str
    web_seed: str  # URL relative to the site base

    @property
    def torrent_path(self) -> str:
        """Where the .torrent file is published, relative to the site base."""
        return f"{TORRENT_DIR}/{self.info_hash}.torrent"

    def fields(self) -> dict[str, Any]:
        """The shard's fields in the manifest."""
        return {
            "infohash": self.info_hash,
            "torrent": self.torrent_path,
            "webseed": self.web_seed,
            "piece_length": self.shard.piece_length,
            "length": self.shard.length,
            "files": len(self.shard.files),
        }

    def entry(self, index: int) -> dict[str, Any]:
        """The manifest entry of the shard's file number ``index``."""
        assert self.digest is not None
        f = self.shard.files[index]
        digest = self.digest.files[index]
        entry: dict[str, Any] = {
            "shard": self.shard.key,
            "index": index,
            "offset": self.shard.offsets[index],
            "length": f.size,
            "type": content_type(f.rel),
        }
        if digest.chunks is None:
            entry["sha256"] = digest.content.hex()
        else:
            entry["chunks_sha256"] = digest.content.hex()
            entry["chunks"] = [c.hex() for c in digest.chunks]
        return entry


def web_seed_for(shard: Shard, info_hash: str) -> str:
    """The web seed URL of a shard, relative to the site base (BEP 19).

    Single-file torrents name the file itself; multi-file torrents name the directory that
    holds ``<torrent name>/<path>`` hard links to the site's files.
    """
    if shard.single_file:
        return url_path(shard.files[0].rel)
    return f"{SEED_DIR}/{info_hash}/"


class StaleState(Exception):
    """The previous build's tables do not hold what its state says: build from scratch."""


class Reuse:
    """What a build may keep of the previous build's tables (see :mod:`planktos.state`).

    ``leaves`` are the previous leaf tables by first key, ``aliases`` the previous aliases;
    ``dirty`` the paths whose entries may differ from the previous build's (every other path's
    entry is read from the previous tables when a leaf must be written again); ``load`` reads
    a previous table, checked; ``published``, the names of the tables in the output now (one
    deleted since is written again).
    """

    def __init__(
        self,
        leaves: dict[str, LeafMemo],
        aliases: dict[str, str],
        dirty: set[str],
        load: Callable[[str], dict[str, Any]],
        published: set[str],
    ) -> None:
        self.leaves = leaves
        self.aliases = aliases
        self.published = published
        self.dirty = dirty
        self._load = load
        self._firsts = sorted(leaves)
        self._read: dict[str, dict[str, Any]] = {}

    def table(self, sha: str) -> dict[str, Any]:
        """The previous build's table ``sha``, read and checked once."""
        if sha not in self._read:
            try:
                self._read[sha] = self._load(sha)
            except (OSError, ValueError) as err:
                raise StaleState(sha) from err
        return self._read[sha]

    def entry(self, key: str) -> dict[str, Any]:
        """The previous build's entry for ``key``."""
        i = bisect.bisect_right(self._firsts, key) - 1
        try:
            entry: dict[str, Any] = self.table(self.leaves[self._firsts[i]].sha)["files"][key]
        except (IndexError, KeyError, TypeError) as err:
            raise StaleState(key) from err
        if i < 0:
            raise StaleState(key)
        return entry


@dataclass(slots=True)
class Tables:
    """The tables of a manifest: the new ones to write (SHA-256 → bytes), the names of all
    it refers to, and its leaves by first key (for the next build's state)."""

    new: dict[str, bytes]
    names: set[str]
    leaves: dict[str, LeafMemo]


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_REL = attrgetter("rel")


def build_manifest(
    shards: list[BuiltShard],
    files: list[SiteFile],
    base_url: str | None,
    trackers: list[str],
    aliases: dict[str, str] | None = None,
    runtime: dict[str, Any] | None = None,
    boundaries: list[bool] | None = None,
    reuse: Reuse | None = None,
) -> tuple[dict[str, Any], str, Tables]:
    """Assemble the manifest; returns its top level (with the build id), the top level's
    canonical JSON and its tables, the refs table included.

    ``files`` are all the site's files, sorted by path (empty ones have no shard); ``runtime``
    holds the site owner's runtime settings (checked), over the defaults; ``boundaries``
    :func:`planktos.tables.boundary_bit` of each file's path, if known. ``aliases`` maps the
    path of a large file to the path of an identical one whose shard it shares
    (content-keyed shards hold each content once). With ``reuse``, leaves of the previous
    build none of whose paths are dirty are kept as they are (the result is the same).
    """
    aliases = aliases or {}
    shard_table = {s.shard.key: s.fields() for s in shards}
    rels = list(map(_REL, files))
    keys = url_paths(rels)
    fresh: dict[str, tuple[BuiltShard, int]] = {}
    for built in shards:
        if built.digest is not None:
            for index, f in enumerate(built.shard.files):
                fresh[f.rel] = (built, index)

    def entry_at(i: int) -> dict[str, Any]:
        f = files[i]
        if f.size == 0:
            return {"length": 0, "sha256": _EMPTY_SHA256, "type": content_type(f.rel)}
        if f.rel in aliases:
            original = entry_at(bisect.bisect_left(rels, aliases[f.rel]))
            return dict(original, type=content_type(f.rel))
        if f.rel in fresh:
            source, index = fresh[f.rel]
            return source.entry(index)
        if reuse is None:
            raise AssertionError(f.rel)
        return reuse.entry(keys[i])

    if keys is rels:
        order: list[int] | range = range(len(keys))
        sorted_keys = keys
    else:
        order = sorted(range(len(keys)), key=keys.__getitem__)
        sorted_keys = [keys[i] for i in order]
    if len(files) <= INLINE_MAX // 60:
        entries = {sorted_keys[j]: entry_at(i) for j, i in enumerate(order)}
        if fits_inline(entries):
            return _finish(
                shard_table,
                leaf_node(entries, shard_table),
                base_url,
                trackers,
                runtime,
                Tables({}, set(), {}),
            )
    bits = boundaries if boundaries is not None else [boundary_bit(r) for r in rels]
    spans = leaf_spans(
        sorted_keys,
        bits if isinstance(order, range) else [bits[i] for i in order],
        [files[i].size >= LARGE_FILE for i in order],
    )
    dirty_spans = set(range(len(spans)))
    if reuse is not None:
        starts = [a for a, _ in spans]
        dirty_keys = url_paths(sorted(reuse.dirty))
        dirty_spans = {
            bisect.bisect_right(starts, bisect.bisect_left(sorted_keys, k)) - 1 for k in dirty_keys
        }
    tree = Tree()
    level: list[Child] = []
    memos: dict[str, LeafMemo] = {}
    for n, (a, b) in enumerate(spans):
        first, last = sorted_keys[a], sorted_keys[b - 1]
        memo = reuse.leaves.get(first) if reuse is not None else None
        if memo is not None and memo.sha not in reuse.published:  # type: ignore[union-attr]
            memo = None  # deleted from the output since: written again
        if n in dirty_spans or memo is None or (memo.last, memo.count) != (last, b - a):
            leaf = leaf_node({sorted_keys[j]: entry_at(order[j]) for j in range(a, b)}, shard_table)
            if len(spans) == 1:
                level.append((first, rels[order[b - 1]], leaf))
                break
            memo = LeafMemo(last, b - a, tree.publish(leaf))
        elif len(spans) == 1:  # a lone leaf is carried inline: read it back
            level.append((first, rels[order[b - 1]], reuse.table(memo.sha)))  # type: ignore[union-attr]
            break
        memos[first] = memo
        level.append((first, rels[order[b - 1]], memo.sha))
    root = build_levels(level, tree)
    tables = Tables(tree.tables, set(tree.tables) | {m.sha for m in memos.values()}, memos)
    return _finish(shard_table, root, base_url, trackers, runtime, tables)


def _finish(
    shard_table: dict[str, Any],
    root: dict[str, Any],
    base_url: str | None,
    trackers: list[str],
    runtime: dict[str, Any] | None,
    tables: Tables,
) -> tuple[dict[str, Any], str, Tables]:
    """The top level over ``root``, with the refs table added to ``tables``."""
    refs = {
        "infohashes": sorted(s["infohash"] for s in shard_table.values()),
        "tables": sorted(tables.names),
    }
    refs_data = dumps(refs).encode()
    refs_sha = hashlib.sha256(refs_data).hexdigest()
    tables.new[refs_sha] = refs_data
    tables.names.add(refs_sha)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "generator": f"planktos {__version__}",
        "base": base_url,
        "trackers": trackers,
        "runtime": RUNTIME_DEFAULTS | (runtime or {}),
        "index": root,
        "refs": refs_sha,
        "tables": f"{TABLE_DIR}/",
    }
    manifest["build"], text = dumps_with_id(manifest)
    return manifest, text, tables


def build_id(manifest: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical manifest without its build id."""
    body = {k: v for k, v in manifest.items() if k != "build"}
    return hashlib.sha256(dumps(body).encode()).hexdigest()[:16]


def dumps(manifest: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps_with_id(body: dict[str, Any]) -> tuple[str, str]:
    """The build id of ``body`` (a manifest without ``build``) and the manifest's canonical JSON.

    Equal to ``dumps(body | {"build": id})``, with one encoding instead of two (a large site's
    manifest takes a noticeable part of a build to encode): ``build`` sorts right after
    ``base``, which every manifest has.
    """
    text = dumps(body)
    head = '{"base":' + json.dumps(body["base"], ensure_ascii=False) + ","
    if "build" in body or not text.startswith(head):
        raise ValueError("dumps_with_id: the body needs a base and no build")
    ident = hashlib.sha256(text.encode()).hexdigest()[:16]
    return ident, f'{head}"build":"{ident}",{text[len(head) :]}'
