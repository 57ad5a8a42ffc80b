"""Write a build's output into the site so that it is never seen half-done.

Layout: ``planktos.sw.js`` at the root, and in ``planktos/``: ``manifest.json`` (the top level),
``i/<sha256>.json`` (its tables), ``install.js``, ``agent.<hash>.js``, ``t/<info hash>.torrent``
and, for multi-file shards, ``w/<info hash>/<shard id>/<path>`` hard links to the site's files
(the web seed; a copy where the filesystem cannot link). Tables and the agent are addressed by
content, torrents and link trees by info hash, so the old and the new build share what did not
change, and a build only adds what is new.

A build first writes all it needs: new entries under names nothing references yet, and each
file it replaces as a temporary file beside it (a site's first build writes the whole of
``planktos/`` under a temporary dot-name). Then :meth:`Output.commit` swaps them in by renames,
in order: replaced torrents, ``manifest.json`` (the commit point), ``install.js``, ``planktos/``
on a first build, pages rewritten by ``--inject``, ``planktos.sw.js``. Every replaced file is
hard-linked to a temporary name first, so that a failing rename undoes the ones before it with
no free space needed. Only after the swap are entries that neither the new nor the previous
manifest references deleted. A failed build leaves the site as it was; one killed at any
point leaves a consistent site plus dot-named leftovers that the next build removes. A lock on
the root keeps two builds apart.

The runtime files, the manifest, its tables and the torrents have precompressed copies beside
them (``<name>.br``, ``<name>.gz``) where compression pays. A copy is removed before its file
is replaced and the new one renamed in after, so a copy is never from another build than its
file (a new table or torrent is written after its copy). The agent the
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
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planktos.errors import BuildError, InputError
from planktos.inject import INJECT_PREFIX
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
    if _failed_first_build(out):
        _remove(out)
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


_LEFTOVERS = {
    Path(TORRENT_DIR).name: re.compile(r"[0-9a-f]{40}\.torrent(\.gz)?"),
    Path(SEED_DIR).name: re.compile(r"[0-9a-f]{40}"),
    Path(TABLE_DIR).name: re.compile(r"[0-9a-f]{64}\.json(\.gz)?"),
}


def _failed_first_build(out: Path) -> bool:
    """Whether ``out`` is what a first build of planktos 0.1 left when it failed: no manifest,
    only torrents, web seed trees and tables named by hash. Every later build refused it."""
    try:
        if out.is_symlink() or os.path.lexists(out / "manifest.json"):
            return False
        for entry in os.scandir(out):
            if entry.name.startswith(TMP_PREFIX):
                continue
            pattern = _LEFTOVERS.get(entry.name)
            if pattern is None or not entry.is_dir(follow_symlinks=False):
                return False
            for inner in os.scandir(entry.path):
                if not (inner.name.startswith(TMP_PREFIX) or pattern.fullmatch(inner.name)):
                    return False
    except OSError:
        return False
    return True


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


@dataclass(slots=True)
class _Change:
    """One step of the commit: ``new`` (a temporary file or directory beside ``target``) renamed
    onto ``target``, or ``target`` removed when ``new`` is None."""

    target: Path
    new: Path | None
    backup_prefix: str = TMP_PREFIX  # pages, in the site's directories: INJECT_PREFIX


class Output:
    """The output directory of one site, written entry by entry, committed in one ordered swap.

    Until :meth:`commit`, a build only adds entries that nothing references yet (new torrents,
    tables, web seed trees, agent) and writes what it replaces to temporary files; a site with
    no output yet gets all of ``planktos/`` written under a temporary dot-name, renamed into
    place at the commit. Whatever fails (a full disk, a read-only file system, an I/O error, an
    interrupt) before or during the swap is undone by :meth:`commit` and :meth:`abandon`: the
    previous output stays as it was, byte for byte.
    """

    def __init__(self, root: Path, fresh: bool = False) -> None:
        self.root = root
        self.final = root / OUTPUT_DIR
        self.copies = 0
        self._copies_lock = threading.Lock()  # seed trees are linked from several threads
        self._created: list[Path] = []  # new entries, deleted if the build fails
        self._staged: list[_Change] = []  # replacements of existing files, swapped at commit
        self._remove_leftovers()
        self.out = self.final
        if fresh:  # nothing to keep: write it all under a dot-name, rename it at the commit
            self.out = self._temp(root)
            self._created.append(self.out)
            os.chmod(self.out, 0o755)
        self.torrents = self.out / Path(TORRENT_DIR).name
        self.seeds = self.out / Path(SEED_DIR).name
        self.tables = self.out / Path(TABLE_DIR).name
        for directory in (self.torrents, self.seeds, self.tables):
            with contextlib.suppress(FileExistsError):
                directory.mkdir()
                self._created.append(directory)  # an output that lacked it: not if we fail

    def _remove_leftovers(self) -> None:
        """Delete temporary entries of builds that were killed (we hold the root's lock)."""
        dirs = [self.root, self.final, *(self.root / d for d in (TORRENT_DIR, SEED_DIR, TABLE_DIR))]
        for directory in dirs:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                for entry in os.scandir(directory):
                    if entry.name.startswith((TMP_PREFIX, ".planktos-build-")):
                        _remove(Path(entry.path))

    def _temp(self, directory: Path) -> Path:
        return Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=directory))

    def put_torrent(self, info_hash: str, data: bytes) -> None:
        """Write ``t/<info_hash>.torrent`` and its gzip copy unless it already holds exactly
        ``data``; one that holds other bytes (new trackers) is replaced at the commit.

        A torrent is mostly SHA-1s, yet its file names make gzip save about a third: a visitor
        fetches one per shard it touches (docs benchmark: 14 a visitor).
        """
        path = self.torrents / f"{info_hash}.torrent"
        if _holds(path, data):
            self._put_missing_copies(path, data)
            return
        if os.path.lexists(path):
            self._stage_published(path, data, gzipped(data))
        else:
            self._put_new_with_copies(path, data)

    def put_tables(self, tables: dict[str, bytes]) -> int:
        """Write ``i/<sha256>.json`` and its gzip copy for each table not there yet; returns
        how many were new.

        A table's name is the SHA-256 of its bytes, so one that exists with the right size
        holds them (a damaged one fails the browser's check, which then asks the origin). Its
        copy is written before it, so a table that is there has its copy (where gzip pays; a
        table from a build before copies existed gets one now). Tables are JSON: gzip takes
        them to about a third.
        """
        written = 0
        for sha, data in tables.items():
            path = self.tables / f"{sha}.json"
            with contextlib.suppress(OSError):
                if path.stat().st_size == len(data):
                    self._put_missing_copies(path, data)
                    continue
            self._put_new_with_copies(path, data)
            written += 1
        return written

    def _put_new_with_copies(self, path: Path, data: bytes) -> None:
        """Add a new entry after its precompressed copies: its presence means they are there."""
        for suffix, packed in gzipped(data).items():
            self._put_new(Path(f"{path}.{suffix}"), packed)
        self._put_new(path, data)

    def _put_missing_copies(self, path: Path, data: bytes) -> None:
        """Give an entry that holds ``data`` the gzip copy it lacks (written by an older
        build). Compressed only then: a rebuild does not compress every table again."""
        if not os.path.lexists(f"{path}.gz"):
            for suffix, packed in gzipped(data).items():
                self._put_new(Path(f"{path}.{suffix}"), packed)

    def has_seed_tree(self, info_hash: str) -> bool:
        """Whether the web seed links of a shard exist (complete: they appear by one rename)."""
        return (self.seeds / info_hash).is_dir()

    def put_seed_tree(self, info_hash: str, entries: Iterable[tuple[str, SiteFile]]) -> None:
        """Create ``w/<info_hash>/`` holding each ``(path, file)`` as a hard link."""
        tmp = self._temp(self.seeds)
        try:
            made = {""}
            for rel, source in entries:
                parent = os.path.dirname(rel)
                if parent not in made:
                    _makedirs(str(tmp), parent, made)
                self._link(source, os.path.join(tmp, rel))
            os.chmod(tmp, 0o755)
            os.rename(tmp, self.seeds / info_hash)
        except BaseException:
            _remove(tmp)
            raise
        self._created.append(self.seeds / info_hash)

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

    def _write(self, path: Path, data: bytes) -> Path:
        """Write ``data`` to a new temporary file beside ``path``; returns its name."""
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return Path(tmp)

    def _put_new(self, path: Path, data: bytes) -> None:
        """Add an entry nothing references yet (it is deleted again if the build fails)."""
        tmp = self._write(path, data)
        self._created.append(path)
        os.replace(tmp, path)

    def _stage_published(self, path: Path, data: bytes, encoded: dict[str, bytes]) -> None:
        """Stage the steps that replace ``path`` and its precompressed copies: old copies go
        first, new ones after, so that a copy is never from another build than its file.

        Nothing is rewritten when all are as wanted already (install.js from one build to the
        next): their ETags stay, so browsers revalidating them get 304s.
        """
        wanted = {path: data} | {Path(f"{path}.{s}"): encoded.get(s) for s in ENCODINGS}
        if all(_holds(target, content) for target, content in wanted.items()):
            return
        for suffix in ENCODINGS:
            if os.path.lexists(f"{path}.{suffix}"):
                self._staged.append(_Change(Path(f"{path}.{suffix}"), None))
        self._staged.append(_Change(path, self._write(path, data)))
        for suffix, packed in encoded.items():
            target = Path(f"{path}.{suffix}")
            self._staged.append(_Change(target, self._write(target, packed)))

    def _put_named_by_content(self, script: Script) -> None:
        """Write a content-named file and its copies where missing or different; the file last,
        so that its presence means its copies are there."""
        path = self.out / script.name
        for target, data in [
            *((Path(f"{path}.{suffix}"), packed) for suffix, packed in script.encoded.items()),
            (path, script.data),
        ]:
            if not _holds(target, data):
                self._put_new(target, data)

    def _agents_in_use(self) -> set[str]:
        """The agent names the current install.js imports (visitors still on that build)."""
        try:
            text = (self.final / "install.js").read_text(encoding="utf-8", errors="replace")
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
        pages: Iterable[tuple[Path, Path]] = (),
    ) -> None:
        """Publish: write every new file first (a full disk fails here, before anything
        visible changed), then swap in order: replaced torrents, the manifest (the commit
        point), the install script, ``planktos/`` itself on a first build, the rewritten
        ``pages`` (``(temporary file, page)`` pairs from ``--inject``), the SW script; each
        with its precompressed copies. A failing step undoes those before it. Then delete
        torrents and web seed trees that ``keep`` does not name, tables that ``keep_tables``
        does not name, and agents that neither this install script nor the previous one
        imports. The tables must be in place already."""
        agents = self._agents_in_use()
        if agent is not None:
            self._put_named_by_content(agent)
            agents.add(agent.name)
        self._stage_published(self.out / "manifest.json", manifest, gzipped(manifest))
        self._stage_published(self.out / "install.js", install.data, install.encoded)
        if self.out != self.final:
            self._staged.append(_Change(self.final, self.out))
        self._staged += [_Change(page, tmp, INJECT_PREFIX) for tmp, page in pages]
        self._stage_published(self.root / SW_NAME, sw_js, gzipped(sw_js))
        _swap(self._staged)
        self._staged = []
        self._created = []
        self.out = self.final
        with contextlib.suppress(OSError):  # what is left over goes at the next build
            self._delete_unreferenced(keep, keep_tables or set(), agents)

    def _delete_unreferenced(self, keep: set[str], keep_tables: set[str], agents: set[str]) -> None:
        for entry in os.scandir(self.final / Path(TORRENT_DIR).name):
            if entry.name.removesuffix(".gz").removesuffix(".torrent") not in keep:
                _remove(Path(entry.path))
        for entry in os.scandir(self.final / Path(SEED_DIR).name):
            if entry.name not in keep:
                _remove(Path(entry.path))
        for entry in os.scandir(self.final / Path(TABLE_DIR).name):
            if entry.name.removesuffix(".gz").removesuffix(".json") not in keep_tables:
                _remove(Path(entry.path))
        for entry in os.scandir(self.final):
            match = _AGENT_FILE.fullmatch(entry.name)
            if match and match.group(1) not in agents:
                _remove(Path(entry.path))

    def abandon(self) -> None:
        """Undo what a failed build added: new entries and temporary files; the previous
        output is then as it was."""
        for change in self._staged:
            if change.new is not None:
                _remove(change.new)
        for path in reversed(self._created):
            _remove(path)
        self._staged = []
        self._created = []


def _swap(changes: list[_Change]) -> None:
    """Apply ``changes`` in order; if one fails, put back what the others replaced.

    Each target is first hard-linked (copied where links fail) to a temporary name, so that
    undoing needs no free space, and these backups are deleted once all steps are done.
    """
    backups: dict[Path, Path | None] = {}
    try:
        for change in changes:
            if change.target not in backups:
                backups[change.target] = _backup(change.target, change.backup_prefix)
    except BaseException:
        _drop(changes, backups)
        raise
    done: list[Path] = []
    try:
        for change in changes:
            if change.new is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(change.target)
            else:
                os.replace(change.new, change.target)
            done.append(change.target)  # a rename happens whole or not at all
    except BaseException:
        for target in reversed(dict.fromkeys(done)):
            backup = backups.pop(target)
            with contextlib.suppress(OSError):
                if backup is None:
                    _remove(target)
                else:
                    os.replace(backup, target)
        _drop(changes, backups)
        raise
    for backup in backups.values():
        if backup is not None:
            _remove(backup)


def _drop(changes: list[_Change], backups: dict[Path, Path | None]) -> None:
    """Delete the temporary files of a swap that did not happen."""
    for change in changes:
        if change.new is not None:
            _remove(change.new)
    for backup in backups.values():
        if backup is not None:
            _remove(backup)


def _backup(path: Path, prefix: str) -> Path | None:
    """A second name for the file at ``path`` (None when there is none), for undoing."""
    if not os.path.lexists(path):
        return None
    for _ in range(100):
        backup = path.parent / f"{prefix}{secrets.token_hex(8)}"
        try:
            os.link(path, backup, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copy2(path, backup, follow_symlinks=False)
        return backup
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def _makedirs(base: str, rel: str, made: set[str]) -> None:
    """``os.makedirs(base/rel)`` without recursion (a tree may be deeper than Python's
    recursion limit); ``made`` holds the relative directories that exist already."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        if sub not in made:
            with contextlib.suppress(FileExistsError):
                os.mkdir(os.path.join(base, sub))
            made.add(sub)


def _holds(path: Path, data: bytes | None) -> bool:
    """Whether ``path`` holds exactly ``data`` (None: whether it is absent)."""
    try:
        if data is None:
            return not os.path.lexists(path)
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _remove(path: Path) -> None:
    """Delete a file or a whole directory tree, as far as possible, ignoring errors."""
    if not (path.is_dir() and not path.is_symlink()):
        with contextlib.suppress(OSError):
            path.unlink()
        return
    # shutil.rmtree recurses per level before Python 3.12: a deep tree raised RecursionError.
    stack, tried = [str(path)], set()
    while stack:
        directory = stack[-1]
        tried.add(directory)
        below = []
        with contextlib.suppress(OSError), os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.path not in tried:
                        below.append(entry.path)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        if below:
            stack.extend(below)
        else:
            with contextlib.suppress(OSError):
                os.rmdir(directory)
            stack.pop()
