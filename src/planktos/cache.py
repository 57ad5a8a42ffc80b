"""The incremental-build cache: shard hashes keyed by each file's path, size, mtime and inode,
and the pages ``--inject`` found already loading the install script, keyed the same way.

A shard whose files all kept their path, size, mtime and inode is not read again. Entries for
files modified within ``RACY_NS`` of the build's start are not stored: a later write in the
same mtime tick could otherwise go unseen (git's "racily clean" problem). The cache lives
outside the site (``$PLANKTOS_CACHE_DIR``, else ``$XDG_CACHE_HOME/planktos``, else
``~/.cache/planktos``), one JSON file per site root, rewritten atomically with only the
entries the last build used. A missing or unreadable cache only costs time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from planktos.hashing import FileDigest, ShardDigest
from planktos.shards import Shard
from planktos.walk import SiteFile

RACY_NS = 2_000_000_000
VERSION = 2


def default_cache_dir() -> Path:
    """Where build caches live unless ``$PLANKTOS_CACHE_DIR`` says otherwise."""
    if env := os.environ.get("PLANKTOS_CACHE_DIR"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "planktos"


class HashCache:
    """Shard digests from the previous build of one site root."""

    def __init__(self, root: Path, directory: Path | None = None) -> None:
        name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16] + ".json"
        self.path = (directory or default_cache_dir()) / name
        self.start_ns = time.time_ns()
        self._old: dict[str, Any] = {}
        self._old_pages: set[str] = set()
        self._load()
        self._new: dict[str, Any] = {}
        self._new_pages: set[str] = set()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return
        shards = data.get("shards")
        self._old = shards if isinstance(shards, dict) else {}
        pages = data.get("pages")
        if isinstance(pages, list):
            self._old_pages = {p for p in pages if isinstance(p, str)}

    @staticmethod
    def _page_signature(f: SiteFile) -> str:
        return hashlib.sha1(f"{f.rel}\0{f.size}\0{f.mtime_ns}\0{f.inode}".encode()).hexdigest()[:20]

    def page_has_tag(self, f: SiteFile) -> bool:
        """Whether the last build saw ``f``, as it is now, load the install script (``--inject``
        then need not read it again); remembered for the next build when true."""
        sig = self._page_signature(f)
        if sig in self._old_pages:
            self._new_pages.add(sig)
            return True
        return False

    def note_page_has_tag(self, f: SiteFile) -> None:
        """Remember that ``f``, as it is now, loads the install script (unless racily new)."""
        if f.mtime_ns < self.start_ns - RACY_NS:
            self._new_pages.add(self._page_signature(f))

    @staticmethod
    def _signature(shard: Shard) -> str:
        parts = [str(shard.piece_length), str(shard.large)]
        parts += [f"{f.rel}\0{f.size}\0{f.mtime_ns}\0{f.inode}" for f in shard.files]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def get(self, shard: Shard) -> ShardDigest | None:
        """Return the cached digest of ``shard`` if none of its files changed."""
        sig = self._signature(shard)
        entry = self._old.get(sig)
        if entry is None:
            return None
        try:
            digest = ShardDigest(
                base64.b64decode(entry["pieces"]),
                tuple(
                    FileDigest(
                        bytes.fromhex(sha),
                        tuple(bytes.fromhex(c) for c in chunks) if chunks is not None else None,
                    )
                    for sha, chunks in entry["files"]
                ),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if len(digest.files) != len(shard.files):
            return None
        self._new[sig] = entry
        return digest

    def put(self, shard: Shard, digest: ShardDigest) -> None:
        """Remember ``digest`` unless a file of the shard is racily new."""
        if any(f.mtime_ns >= self.start_ns - RACY_NS for f in shard.files):
            return
        self._new[self._signature(shard)] = {
            "pieces": base64.b64encode(digest.pieces).decode(),
            "files": [
                [d.content.hex(), [c.hex() for c in d.chunks] if d.chunks is not None else None]
                for d in digest.files
            ],
        }

    def save(self) -> None:
        """Write the entries this build used, atomically, unless they are those it found;
        failures are ignored."""
        if self._new == self._old and self._new_pages == self._old_pages:
            return  # a rebuild that hashed nothing: 2.8 s of encoding for 100,000 files
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
            # dumps, not dump: json.dump encodes in Python, dumps in C (10 times faster here).
            data = {"version": VERSION, "shards": self._new, "pages": sorted(self._new_pages)}
            text = json.dumps(data, separators=(",", ":"))
            with os.fdopen(fd, "w") as out:
                out.write(text)
            os.replace(tmp, self.path)
        except OSError:
            pass
