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

import array
import base64
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
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
    stamps: Stamps = field(default_factory=lambda: Stamps.of([]))
    pages: str = ""  # one status letter per file
    bits: str = ""  # "1" where a file's path may end a shard or a leaf, else "0"
    shards: dict[str, ShardMemo] = field(default_factory=dict)  # by key; large: by path
    leaves: dict[str, LeafMemo] = field(default_factory=dict)  # by first key
    aliases: dict[str, str] = field(default_factory=dict)

    def changed(self, files: Sequence[SiteFile]) -> set[str]:
        """Paths of ``files`` that are new or whose stat fields differ from the record."""
        rels = [f.rel for f in files]
        new = Stamps.of(files)
        if rels != self.rels:
            old = dict(zip(self.rels, self.stamps.rows(), strict=True))
            return {r for r, row in zip(rels, new.rows(), strict=True) if old.get(r) != row}
        return {rels[i] for i in new.differences(self.stamps)}

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


@dataclass(slots=True)
class Stamps:
    """Size, mtime and inode of each file, as three arrays of 64-bit integers: compared in C
    and stored as base64 (a list of 300,000 numbers took 0.1 s to write and read as JSON)."""

    sizes: array.array[int]
    mtimes: array.array[int]
    inodes: array.array[int]

    @staticmethod
    def of(files: Sequence[SiteFile], racy_from: int | None = None) -> Stamps:
        """The stat fields of ``files``; mtimes from ``racy_from`` on recorded as ``UNKNOWN``."""
        mtimes = [f.mtime_ns for f in files]
        if racy_from is not None:
            mtimes = [m if m < racy_from else UNKNOWN for m in mtimes]
        return Stamps(
            array.array("Q", [f.size for f in files]),
            array.array("q", mtimes),
            array.array("Q", [f.inode for f in files]),
        )

    def rows(self) -> Iterator[tuple[int, int, int]]:
        """(size, mtime, inode) of each file."""
        return zip(self.sizes, self.mtimes, self.inodes, strict=True)

    def differences(self, other: Stamps, block: int = 512) -> Iterator[int]:
        """Indexes where ``self`` and ``other`` (as long) differ; blocks that are equal are
        compared in C and skipped."""
        if self == other:
            return
        for start in range(0, len(self.sizes), block):
            end = start + block
            if any(getattr(self, c)[start:end] != getattr(other, c)[start:end] for c in _COLUMNS):
                for i in range(start, min(end, len(self.sizes))):
                    if any(getattr(self, c)[i] != getattr(other, c)[i] for c in _COLUMNS):
                        yield i

    def dump(self) -> list[str]:
        return [base64.b64encode(getattr(self, c).tobytes()).decode() for c in _COLUMNS]

    @staticmethod
    def load(data: list[str]) -> Stamps:
        columns = [array.array(t) for t in "QqQ"]
        for column, text in zip(columns, data, strict=True):
            column.frombytes(base64.b64decode(text, validate=True))
        return Stamps(*columns)


_COLUMNS = ("sizes", "mtimes", "inodes")


def fingerprint(piece_size: int | None, base_url: str | None, trackers: Sequence[str]) -> str:
    """What, besides the files, shapes torrents and tables: options and planktos's version."""
    return json.dumps([VERSION, __version__, piece_size, base_url, list(trackers)])


def record_files(files: Sequence[SiteFile], start_ns: int) -> tuple[list[str], Stamps]:
    """The paths and stat fields of ``files`` to record; racily new ones get ``UNKNOWN``."""
    return [f.rel for f in files], Stamps.of(files, start_ns - RACY_NS)


def state_path(cache_file: Path) -> Path:
    """The state file beside a site's hash cache file."""
    return cache_file.with_suffix(".state.json")


def load(path: Path) -> BuildState | None:
    """The state at ``path``, or None when it is missing, unreadable or of another version."""
    try:
        data = json.loads(path.read_bytes())
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return None
        if data.get("byteorder") != sys.byteorder:
            return None
        state = BuildState(
            build=str(data["build"]),
            options=str(data["options"]),
            rels=data["rels"],
            stamps=Stamps.load(data["stamps"]),
            pages=str(data["pages"]),
            bits=str(data["bits"]),
            shards={k: ShardMemo(*v) for k, v in data["shards"].items()},
            leaves={k: LeafMemo(*v) for k, v in data["leaves"].items()},
            aliases=dict(data["aliases"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    n = len(state.rels)
    lengths = {len(state.stamps.sizes), len(state.stamps.mtimes), len(state.stamps.inodes)}
    if lengths != {n} or len(state.pages) != n or len(state.bits) != n:
        return None
    return state


def save(path: Path, state: BuildState) -> None:
    """Write ``state`` atomically; failures are ignored (the next build starts over)."""
    data: dict[str, Any] = {
        "version": VERSION,
        "build": state.build,
        "options": state.options,
        "rels": state.rels,
        "byteorder": sys.byteorder,
        "stamps": state.stamps.dump(),
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
