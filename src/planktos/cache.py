"""The incremental-build cache: shard hashes keyed by each file's path, size, mtime and inode.

A shard whose files all kept their path, size, mtime and inode is not read again. Entries for
files modified within ``RACY_NS`` of the build's start are not stored: a later write in the
same mtime tick could otherwise go unseen (git's "racily clean" problem). The cache lives
outside the site (``$PLANKTOS_CACHE_DIR``, else ``$XDG_CACHE_HOME/planktos``, else
``~/.cache/planktos``), one JSON file per site root, rewritten atomically with only the
entries the last build used. A missing or unreadable cache only costs time. It is read only
when a build needs it: a rebuild that keeps the previous build's shards (:mod:`planktos.state`)
neither reads nor rewrites it.
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
        self._loaded: dict[str, Any] | None = None
        self._new: dict[str, Any] = {}

    @property
    def _old(self) -> dict[str, Any]:
        if self._loaded is None:
            self._loaded = {}
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                return self._loaded
            if isinstance(data, dict) and data.get("version") == VERSION:
                shards = data.get("shards")
                self._loaded = shards if isinstance(shards, dict) else {}
        return self._loaded

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
        if self._new == self._old:
            return  # a rebuild that hashed nothing: 2.8 s of encoding for 100,000 files
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
            # dumps, not dump: json.dump encodes in Python, dumps in C (10 times faster here).
            data = {"version": VERSION, "shards": self._new}
            text = json.dumps(data, separators=(",", ":"))
            with os.fdopen(fd, "w") as out:
                out.write(text)
            os.replace(tmp, self.path)
        except OSError:
            pass
