"""Which info hashes a tracker serves: those of the site's manifests, re-read when rebuilt.

Both ``planktos serve`` (its site's manifest) and ``planktos tracker --manifest`` (each one
given) use :class:`ManifestHashes`, so that a rebuild is picked up without a restart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from planktos.manifest import info_hashes


class ManifestHashes:
    """The info hashes of one manifest, re-read at most every ``recheck_s`` when it changed.

    A rebuild swaps the manifest: the new hashes are served within ``recheck_s``, and the
    previous build's stay allowed, so that visitors still on the old snapshot keep their
    swarms until they update. A manifest missing or half-written at a check keeps what was
    read before.
    """

    def __init__(self, path: Path, recheck_s: float = 1.0) -> None:
        self.path = path
        self.recheck_s = recheck_s
        self._checked = 0.0
        self._stamp: tuple[int, int, int] | None = None
        self.current: frozenset[bytes] = frozenset()
        self.previous: frozenset[bytes] = frozenset()
        self._refresh()

    @classmethod
    def required(cls, path: Path, recheck_s: float = 1.0) -> ManifestHashes:
        """Like the constructor, but raise OSError or ValueError if ``path`` cannot be read
        now (a manifest given on the command line must exist at start)."""
        info_hashes(path)
        return cls(path, recheck_s)

    def _refresh(self) -> None:
        self._checked = time.monotonic()
        try:
            st = os.stat(self.path)
        except OSError:
            return
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return
        try:
            hashes = info_hashes(self.path)
        except (OSError, ValueError):
            return  # half-written or foreign: keep what we had
        self._stamp = stamp
        if hashes != self.current:
            self.previous, self.current = self.current, hashes

    def __call__(self, info_hash: bytes) -> bool:
        """Whether the tracker serves ``info_hash``."""
        if time.monotonic() - self._checked >= self.recheck_s:
            self._refresh()
        return info_hash in self.current or info_hash in self.previous


class AnyManifest:
    """An info hash is served if any of several manifests lists it."""

    def __init__(self, manifests: Sequence[ManifestHashes]) -> None:
        self.manifests = tuple(manifests)

    def __call__(self, info_hash: bytes) -> bool:
        return any(manifest(info_hash) for manifest in self.manifests)
