"""Write a build's output into the site so that it is never seen half-done.

Layout: ``planktos.sw.js`` at the root, and in ``planktos/``: ``manifest.json`` (the top level),
``i/<sha256>.json`` (its tables), ``install.js``, ``agent.<hash>.js``, ``t/<info hash>.torrent``
and, for multi-file shards, ``w/<info hash>/<shard id>/<path>`` hard links to the site's files
(the web seed; a copy where the filesystem cannot link). Tables and the agent are addressed by
content, torrents and link trees by info hash, so the old and the new build share what did not
change, and a build only adds what is new. New entries are created under temporary dot-names
and renamed into place; then ``manifest.json`` is replaced in one rename: that is the commit.
Only then are entries that neither the new nor the previous manifest references deleted. A
build killed at any point leaves a consistent site: the old manifest with everything it
references, plus leftovers that the next build removes. A lock on the root keeps two builds
apart.

The runtime files and the manifest have precompressed copies beside them (``<name>.br``,
``<name>.gz``) where compression pays. A copy is deleted before its file is replaced and the
new one written after, so a copy is never from another build than its file. The agent the
previous build's install.js imports is kept for visitors still on that build, older ones are
deleted.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from planktos.errors import BuildError, InputError
from planktos.manifest import FORMAT, SEED_DIR, TORRENT_DIR, references
from planktos.runtime import AGENT_NAME, ENCODINGS, Script
from planktos.tables import TABLE_DIR
from planktos.walk import OUTPUT_DIR, SW_NAME, SiteFile

TMP_PREFIX = ".tmp-"
_AGENT_FILE = re.compile(rf"({AGENT_NAME.pattern})(?:\.(?:{'|'.join(ENCODINGS)}))?")


def gzipped(data: bytes) -> dict[str, bytes]:
    """``{"gz": bytes}`` when gzip saves at least a tenth of ``data``, else nothing.

    No brotli here: this is for what changes per build (manifest, service worker), where only
    brotli's slowest level beats gzip (docs/runtime.md, "Precompressed, content-hashed
    runtime"); the agent and
    install.js come precompressed with both from ``js/build.mjs``.
    """
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    return {"gz": packed} if len(packed) <= len(data) * 0.9 else {}


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

    def _publish(self, path: Path, data: bytes, encoded: dict[str, bytes]) -> None:
        """Replace ``path`` and its precompressed copies: old copies go first, new ones after.

        Nothing is rewritten when all are as wanted already (install.js from one build to the
        next): their ETags stay, so browsers revalidating them get 304s.
        """
        wanted = {path: data} | {Path(f"{path}.{s}"): encoded.get(s) for s in ENCODINGS}
        if all(_holds(target, content) for target, content in wanted.items()):
            return
        for suffix in ENCODINGS:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}.{suffix}")
        self._replace(path, data)
        for suffix, packed in encoded.items():
            self._replace(Path(f"{path}.{suffix}"), packed)

    def _put_named_by_content(self, script: Script) -> None:
        """Write a content-named file and its copies where missing or different; the file last,
        so that its presence means its copies are there."""
        path = self.out / script.name
        for target, data in [
            *((Path(f"{path}.{suffix}"), packed) for suffix, packed in script.encoded.items()),
            (path, script.data),
        ]:
            if not _holds(target, data):
                self._replace(target, data)

    def _agents_in_use(self) -> set[str]:
        """The agent names the current install.js imports (visitors still on that build)."""
        try:
            text = (self.out / "install.js").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
        return set(AGENT_NAME.findall(text))

    def commit(
        self,
        manifest: bytes,
        install: Script,
        sw_js: bytes,
        keep: set[str],
        agent: Script | None = None,
        keep_tables: set[str] | None = None,
    ) -> None:
        """Publish: agent and install script, then the manifest (the commit point), then the SW
        script, each with its precompressed copies; then delete torrents and web seed trees that
        ``keep`` does not name, tables that ``keep_tables`` does not name, and agents that
        neither this install script nor the previous one imports. The tables must be in place
        already."""
        agents = self._agents_in_use()
        if agent is not None:
            self._put_named_by_content(agent)
            agents.add(agent.name)
        self._publish(self.out / "install.js", install.data, install.encoded)
        self._publish(self.out / "manifest.json", manifest, gzipped(manifest))
        self._publish(self.root / SW_NAME, sw_js, gzipped(sw_js))
        for entry in os.scandir(self.torrents):
            if entry.name.removesuffix(".torrent") not in keep:
                _remove(Path(entry.path))
        for entry in os.scandir(self.seeds):
            if entry.name not in keep:
                _remove(Path(entry.path))
        for entry in os.scandir(self.tables):
            if entry.name.removesuffix(".json") not in (keep_tables or set()):
                _remove(Path(entry.path))
        for entry in os.scandir(self.out):
            match = _AGENT_FILE.fullmatch(entry.name)
            if match and match.group(1) not in agents:
                _remove(Path(entry.path))


def _holds(path: Path, data: bytes | None) -> bool:
    """Whether ``path`` holds exactly ``data`` (None: whether it is absent)."""
    try:
        if data is None:
            return not os.path.lexists(path)
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()
