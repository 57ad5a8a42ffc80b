"""Write a build's output into the site so that it is never seen half-done.

Layout: ``planktos.sw.js`` at the root, and in ``planktos/``: ``manifest.json`` (the top level),
``i/<sha256>.json`` (its tables), ``install.js``, ``agent.js``, ``t/<info hash>.torrent`` and,
for multi-file shards, ``w/<info hash>/<shard id>/<path>`` hard links to the site's files (the
web seed; a copy where the filesystem cannot link). Tables are addressed by content, torrents
and link trees by info hash, so the old and the new build share what did not change, and a
build only adds what is new. New entries are created under temporary dot-names and renamed into
place; then ``manifest.json`` is replaced in one rename: that is the commit. Only then are
entries that neither the new nor the previous manifest references deleted. A build killed at
any point leaves a consistent site: the old manifest with everything it references, plus
leftovers that the next build removes. A lock on the root keeps two builds apart.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from planktos.errors import BuildError, InputError
from planktos.manifest import FORMAT, SEED_DIR, TORRENT_DIR, references
from planktos.tables import TABLE_DIR
from planktos.walk import OUTPUT_DIR, SW_NAME, SiteFile

TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the root directory for the whole build."""
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise InputError(root, "another planktos build is running on it; wait for it") from err
        yield
    finally:
        os.close(fd)


def previous_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of the current output, or None; refuses output planktos did not write."""
    out = root / OUTPUT_DIR
    if not os.path.lexists(out):
        return None
    try:
        data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if out.is_symlink() or not out.is_dir() or not isinstance(data, dict):
        data = None
    if data is None or data.get("format") != FORMAT:
        raise InputError(
            out, "exists but was not written by planktos; move it away, planktos writes there"
        )
    manifest: dict[str, Any] = data
    return manifest


def previous_references(root: Path, manifest: dict[str, Any] | None) -> tuple[set[str], set[str]]:
    """Info hashes and table hashes the current output's manifest refers to.

    A manifest of version 1 has no tables; one whose refs table is unreadable (damaged
    output) refers to nothing, so only what the new build refers to is kept.
    """
    if manifest is None:
        return set(), set()
    if manifest.get("version") == 1:
        shards = manifest.get("shards")
        if not isinstance(shards, dict):
            return set(), set()
        hashes = {s["infohash"] for s in shards.values() if isinstance(s, dict) and "infohash" in s}
        return hashes, set()
    try:
        return references(root / OUTPUT_DIR / "manifest.json", manifest)
    except (OSError, ValueError):
        return set(), set()


class Output:
    """The output directory of one site, written entry by entry, committed by one rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = root / OUTPUT_DIR
        self.torrents = root / TORRENT_DIR
        self.seeds = root / SEED_DIR
        self.tables = root / TABLE_DIR
        self.copies = 0
        self._copies_lock = threading.Lock()  # seed trees are linked from several threads
        for directory in (self.out, self.torrents, self.seeds, self.tables):
            directory.mkdir(exist_ok=True)
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Delete temporary entries of builds that were killed (we hold the root's lock)."""
        for directory in (self.root, self.out, self.torrents, self.seeds, self.tables):
            for entry in os.scandir(directory):
                if entry.name.startswith((TMP_PREFIX, ".planktos-build-")):
                    _remove(Path(entry.path))

    def _temp(self, directory: Path) -> Path:
        return Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=directory))

    def put_torrent(self, info_hash: str, data: bytes) -> None:
        """Write ``t/<info_hash>.torrent`` unless it already holds exactly ``data``."""
        path = self.torrents / f"{info_hash}.torrent"
        with contextlib.suppress(OSError):
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return
        self._replace(path, data)

    def put_tables(self, tables: dict[str, bytes]) -> int:
        """Write ``i/<sha256>.json`` for each table not there yet; returns how many were new.

        A table's name is the SHA-256 of its bytes, so one that exists with the right size
        holds them (a damaged one fails the browser's check, which then asks the origin).
        """
        written = 0
        for sha, data in tables.items():
            path = self.tables / f"{sha}.json"
            with contextlib.suppress(OSError):
                if path.stat().st_size == len(data):
                    continue
            self._replace(path, data)
            written += 1
        return written

    def has_seed_tree(self, info_hash: str) -> bool:
        """Whether the web seed links of a shard exist (complete: they appear by one rename)."""
        return (self.seeds / info_hash).is_dir()

    def put_seed_tree(self, info_hash: str, entries: Iterable[tuple[str, SiteFile]]) -> None:
        """Create ``w/<info_hash>/`` holding each ``(path, file)`` as a hard link."""
        tmp = self._temp(self.seeds)
        made: set[str] = set()
        for rel, source in entries:
            parent = os.path.dirname(rel)
            if parent not in made:
                os.makedirs(os.path.join(tmp, parent), exist_ok=True)
                made.add(parent)
            self._link(source, os.path.join(tmp, rel))
        os.chmod(tmp, 0o755)
        os.rename(tmp, self.seeds / info_hash)

    def _link(self, source: SiteFile, path: str) -> None:
        try:
            os.link(source.path, path, follow_symlinks=True)
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise BuildError(source.rel, f"cannot be linked ({err.strerror})") from err
            shutil.copyfile(source.path, path)
            with self._copies_lock:
                self.copies += 1
        st = os.stat(path)
        if (st.st_size, st.st_mtime_ns) != (source.size, source.mtime_ns):
            raise BuildError(source.rel, "changed while the site was built; run the build again")

    def _replace(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def commit(
        self,
        manifest: bytes,
        install_js: bytes,
        sw_js: bytes,
        keep: set[str],
        agent_js: bytes | None = None,
        keep_tables: set[str] | None = None,
    ) -> None:
        """Publish: agent and install script, then the manifest (the commit point), then the SW
        script; then delete torrents and web seed trees that ``keep`` does not name, and
        tables that ``keep_tables`` does not name. The tables must be in place already."""
        if agent_js is not None:
            self._replace(self.out / "agent.js", agent_js)
        self._replace(self.out / "install.js", install_js)
        self._replace(self.out / "manifest.json", manifest)
        self._replace(self.root / SW_NAME, sw_js)
        for entry in os.scandir(self.torrents):
            if entry.name.removesuffix(".torrent") not in keep:
                _remove(Path(entry.path))
        for entry in os.scandir(self.seeds):
            if entry.name not in keep:
                _remove(Path(entry.path))
        for entry in os.scandir(self.tables):
            if entry.name.removesuffix(".json") not in (keep_tables or set()):
                _remove(Path(entry.path))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()
