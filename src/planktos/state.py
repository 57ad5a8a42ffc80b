"""What the last build of a site produced, so that the next one redoes only what changed.

A rebuild of a 100,000-page site after one page changed must not hash, plan, encode and
write 100,000 files' worth of torrents and tables again. The state records, for the output
now on disk: every file's stat fields (path, size, mtime, inode), which pages load the install
script, each shard's files and info hash, and each leaf table's keys and SHA-256. A rebuild
compares its walk with it; a shard whose files all kept their stat fields keeps its info
hash, torrent and web seed links without being read, and a leaf none of whose keys changed
keeps its table; only the tables above changed leaves are encoded again. The result is the
same, byte for byte, as a build from scratch (tests/test_incremental.py).

The state is trusted only for the output it describes: it names the build id of that
output's manifest and a fingerprint of the options that shape torrents and tables; any
mismatch (another build, other options, another planktos) and the build starts over with the
hash cache (:mod:`planktos.cache`). Stat fields of files modified within ``RACY_NS`` of the
build's start are not recorded (git's "racily clean" problem), so those files count as
changed next time. Stored as one JSON file per site root beside the hash cache, replaced
atomically after the build committed; a missing or unreadable state only costs time.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planktos import __version__
from planktos.cache import RACY_NS
from planktos.tables import LeafMemo, boundary_bit
from planktos.walk import SiteFile

VERSION = 1
UNKNOWN = -1  # the mtime recorded for a racily new file: it never matches a real one

UNSEEN = "-"  # page status of a file that is no page or was not read (planktos.inject)


@dataclass(slots=True)
class ShardMemo:
    """A shard of the last build: its files (first and last path, how many) and info hash;
    for a large file, the SHA-256 that names its shard (hex) and whether it was an alias (a
    copy of an earlier file, whose shard it shared)."""

    first: str
    last: str
    count: int
    info_hash: str
    content: str | None = None
    alias: bool = False


@dataclass(slots=True)
class BuildState:
    """The record of one build's output (see the module docstring)."""

    build: str = ""
    options: str = ""
    rels: list[str] = field(default_factory=list)
    stamps: list[int] = field(default_factory=list)  # size, mtime_ns, inode per file
    pages: str = ""  # one status letter per file
    bits: str = ""  # "1" where a file's path may end a shard or a leaf, else "0"
    shards: dict[str, ShardMemo] = field(default_factory=dict)  # by key; large: by path
    leaves: dict[str, LeafMemo] = field(default_factory=dict)  # by first key
    aliases: dict[str, str] = field(default_factory=dict)

    def changed(self, files: Sequence[SiteFile]) -> set[str]:
        """Paths of ``files`` that are new or whose stat fields differ from the record."""
        rels = [f.rel for f in files]
        stamps = stamps_of(files)
        if rels != self.rels:
            it = iter(self.stamps)
            old = dict(zip(self.rels, zip(it, it, it, strict=True), strict=True))
            return {f.rel for f in files if old.get(f.rel) != (f.size, f.mtime_ns, f.inode)}
        # The common case, same names and a few edits: compare in blocks, in C, and look
        # into a block only when it differs.
        out = set()
        step = 3 * 256
        for start in range(0, len(stamps), step):
            if stamps[start : start + step] != self.stamps[start : start + step]:
                for i in range(start, min(start + step, len(stamps)), 3):
                    if stamps[i : i + 3] != self.stamps[i : i + 3]:
                        out.add(rels[i // 3])
        return out

    def page_status(self, changed: set[str]) -> dict[str, str]:
        """What the record says of each page unchanged since (:mod:`planktos.inject`)."""
        status = dict(zip(self.rels, self.pages, strict=True))
        for rel in changed:
            status.pop(rel, None)
        return status

    def boundaries(self, rels: list[str]) -> list[bool]:
        """:func:`planktos.tables.boundary_bit` of each path, from the record where it has it."""
        if rels == self.rels:
            return [b == "1" for b in self.bits]
        known = dict(zip(self.rels, self.bits, strict=True))
        return [known[r] == "1" if r in known else boundary_bit(r) for r in rels]


def stamps_of(files: Sequence[SiteFile]) -> list[int]:
    """Size, mtime and inode of each file, one after another."""
    return [x for f in files for x in (f.size, f.mtime_ns, f.inode)]


def fingerprint(piece_size: int | None, base_url: str | None, trackers: Sequence[str]) -> str:
    """What, besides the files, shapes torrents and tables: options and planktos's version."""
    return json.dumps([VERSION, __version__, piece_size, base_url, list(trackers)])


def record_files(files: Sequence[SiteFile], start_ns: int) -> tuple[list[str], list[int]]:
    """The paths and stat fields of ``files`` to record; racily new ones get ``UNKNOWN``."""
    racy = start_ns - RACY_NS
    stamps = stamps_of(files)
    for i in range(1, len(stamps), 3):
        if stamps[i] >= racy:
            stamps[i] = UNKNOWN
    return [f.rel for f in files], stamps


def state_path(cache_file: Path) -> Path:
    """The state file beside a site's hash cache file."""
    return cache_file.with_suffix(".state.json")


def load(path: Path) -> BuildState | None:
    """The state at ``path``, or None when it is missing, unreadable or of another version."""
    try:
        data = json.loads(path.read_bytes())
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return None
        state = BuildState(
            build=str(data["build"]),
            options=str(data["options"]),
            rels=data["rels"],
            stamps=data["stamps"],
            pages=str(data["pages"]),
            bits=str(data["bits"]),
            shards={k: ShardMemo(*v) for k, v in data["shards"].items()},
            leaves={k: LeafMemo(*v) for k, v in data["leaves"].items()},
            aliases=dict(data["aliases"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    n = len(state.rels)
    if len(state.stamps) != 3 * n or len(state.pages) != n or len(state.bits) != n:
        return None
    return state


def save(path: Path, state: BuildState) -> None:
    """Write ``state`` atomically; failures are ignored (the next build starts over)."""
    data: dict[str, Any] = {
        "version": VERSION,
        "build": state.build,
        "options": state.options,
        "rels": state.rels,
        "stamps": state.stamps,
        "pages": state.pages,
        "bits": state.bits,
        "shards": {
            k: [m.first, m.last, m.count, m.info_hash, m.content, m.alias]
            for k, m in state.shards.items()
        },
        "leaves": {k: [m.last, m.count, m.sha] for k, m in state.leaves.items()},
        "aliases": state.aliases,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
        os.replace(tmp, path)
    except OSError:
        pass


def discard(path: Path) -> None:
    """Remove the state (before a build changes the output it describes)."""
    with contextlib.suppress(OSError):
        os.unlink(path)
