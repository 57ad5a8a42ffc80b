"""``planktos build``: walk, hash, plan shards, write torrents, manifest and runtime, swap in."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from planktos import runtime
from planktos.cache import HashCache
from planktos.errors import BuildError, advice
from planktos.hashing import ShardDigest, hash_shard
from planktos.inject import INJECT_PREFIX, InjectReport, inject, loads_install_script
from planktos.manifest import (
    FORMAT,
    VERSION,
    BuiltShard,
    build_id,
    build_manifest,
    dumps,
    read_full,
    web_seed_for,
)
from planktos.output import (
    TMP_PREFIX,
    Output,
    gzipped,
    locked,
    previous_manifest,
    previous_references,
)
from planktos.shards import Shard, plan
from planktos.torrent import info_bytes, info_hash, metainfo
from planktos.urls import seed_path, tracker_for_base, url_path
from planktos.walk import OUTPUT_DIR, SiteFile, Skipped, Walk, collect, printable

DEFAULT_TRACKER = "planktos/tracker"


@dataclass(slots=True)
class BuildOptions:
    """What ``planktos build`` was asked to do (already validated)."""

    root: Path
    paths: list[Path] = field(default_factory=list)
    base_url: str | None = None
    trackers: list[str] = field(default_factory=lambda: [DEFAULT_TRACKER])
    excludes: list[str] = field(default_factory=list)
    piece_size: int | None = None
    jobs: int = 0  # 0: one per core
    uninstall: bool = False
    inject: bool = False
    cache_dir: Path | None = None
    runtime: dict[str, Any] = field(default_factory=dict)  # checked runtime settings


@dataclass(slots=True)
class BuildResult:
    """What a build did, for the summary line."""

    build: str
    files: int = 0
    bytes: int = 0
    shards: int = 0
    hashed_bytes: int = 0
    changed_shards: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    copies: int = 0
    seconds: float = 0.0
    injected: InjectReport | None = None
    install_tag: bool | None = None  # whether a page loads install.js (None: no HTML page)


class Progress(Protocol):
    """Receives progress from a build (called from worker threads)."""

    def start(self, files: int, total_bytes: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...


def build(opts: BuildOptions, progress: Progress | None = None) -> BuildResult:
    """Build the site at ``opts.root``; on any error the previous output is left intact."""
    started = time.perf_counter()
    root = opts.root
    walk = None if opts.uninstall else collect(root, opts.paths, opts.excludes)
    with locked(root):
        try:
            result = _build_locked(opts, walk, progress)
        except OSError as err:  # a full disk, a read-only file system, an I/O error
            raise _unwritable(err, root) from err
    result.seconds = time.perf_counter() - started
    return result


def _build_locked(opts: BuildOptions, walk: Walk | None, progress: Progress | None) -> BuildResult:
    root = opts.root
    previous = previous_manifest(root)
    if walk is None:
        output = Output(root, fresh=previous is None)
        try:
            return _write_uninstall(output)
        except BaseException:
            output.abandon()
            raise
    _remove_killed_injections(root, walk)
    injected = None
    cache = HashCache(root, opts.cache_dir)
    if opts.inject:
        injected = inject(walk.files, opts.base_url, cache.page_has_tag, cache.note_page_has_tag)
        walk.files = _restat(walk.files, injected)
    try:
        shards = plan(walk.files, opts.piece_size)
        digests, hashed = _hash_all(shards, cache, opts, progress)
        output = Output(root, fresh=previous is None)  # after hashing: a killed hash run
        empty = [f.rel for f in walk.files if f.size == 0]  # leaves nothing behind
        old = previous_references(root, previous)
        if _published_what_is_now_skipped(root, previous, walk.skipped):
            old = set(), set()  # the previous build's web seed trees must not serve it any more
        pages = [(Path(t), Path(p)) for p, t in injected.staged.items()] if injected else []
        try:
            result = _write_site(output, shards, digests, opts, old, empty, pages)
        except BaseException:
            output.abandon()
            raise
    except BaseException:
        if injected:
            injected.discard()
        raise
    result.copies = output.copies
    result.hashed_bytes = hashed
    result.skipped = walk.skipped
    result.files = len(walk.files)
    result.injected = injected
    if injected is not None and (injected.injected or injected.present):
        result.install_tag = True
    else:
        result.install_tag = loads_install_script(walk.files)
    result.bytes = sum(f.size for f in walk.files)
    return result


# Skips of what earlier releases published (through a symlink, or below the root).
_NEWLY_SKIPPED = ("symlink to ", "build output of another site")


def _published_what_is_now_skipped(
    root: Path, previous: dict[str, Any] | None, skipped: list[Skipped]
) -> bool:
    """Whether the previous build published a file this one must skip (``repo -> .git`` before
    the fix): then its web seed trees, torrents and tables are not kept for its visitors.

    Reads the previous manifest's tables, so only when a skip of that kind exists; a manifest
    that cannot be read counts as having published it.
    """
    gone = {url_path(s.rel) for s in skipped if s.reason.startswith(_NEWLY_SKIPPED)}
    if previous is None or not gone or previous.get("uninstalled"):
        return False
    try:
        files = previous["files"] if previous.get("version") == 1 else None
        if files is None:
            files = read_full(root / OUTPUT_DIR / "manifest.json")["files"]
        urls = list(files)
    except (OSError, ValueError, KeyError, TypeError):
        return True
    prefixes = tuple(u + "/" for u in gone)
    return any(u in gone or u.startswith(prefixes) for u in urls)


def _unwritable(err: OSError, root: Path) -> BuildError:
    """The one-line error for a build that the file system stopped (nothing was changed)."""
    name = err.filename2 or err.filename  # a rename's target, else the file
    subject = os.fsdecode(name) if name else str(root)
    if os.path.basename(subject).startswith((TMP_PREFIX, INJECT_PREFIX)):
        subject = os.path.dirname(subject)  # a temporary name tells the user nothing
    reason = err.strerror or str(err)
    return BuildError(
        printable(subject),
        f"cannot be written ({reason}); {advice(err)} and build again (the site is as it was)",
    )


def _remove_killed_injections(root: Path, walk: Walk) -> None:
    """Delete the rewritten pages of a killed ``--inject`` build (dot-files beside pages)."""
    left = [s for s in walk.skipped if s.rel.rpartition("/")[2].startswith(INJECT_PREFIX)]
    for s in left:
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(os.path.join(root, s.rel)).st_mode):
                os.unlink(os.path.join(root, s.rel))
    if left:
        walk.skipped = [s for s in walk.skipped if s not in left]


def _restat(files: list[SiteFile], injected: InjectReport) -> list[SiteFile]:
    """``files`` with each page ``--inject`` rewrote (and any other name of it: a symlink)
    read from its rewritten copy until the commit renames that onto the page; only names of
    the same inode pay a ``realpath`` (a second walk of a 100,000-file site took 2 s)."""
    if not injected.staged:
        return files
    rewritten = set(injected.injected)
    old = {(f.device, f.inode) for f in files if f.rel in rewritten}
    out = []
    for f in files:
        if (f.device, f.inode) in old:
            tmp = injected.staged.get(os.path.realpath(f.path))
            if tmp is not None:  # else a hard link of the page: another file, not rewritten
                st = os.stat(tmp)
                f = SiteFile(f.rel, tmp, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
        out.append(f)
    return out


def _hash_all(
    shards: list[Shard], cache: HashCache, opts: BuildOptions, progress: Progress | None
) -> tuple[list[ShardDigest], int]:
    """Hash every shard the cache cannot answer for; returns digests and bytes read."""
    digests: list[ShardDigest | None] = [cache.get(s) for s in shards]
    todo = [i for i, d in enumerate(digests) if d is None]
    if progress:
        progress.start(
            sum(len(shards[i].files) for i in todo),
            sum(shards[i].length for i in todo),
        )
    advance: Callable[[int], None] | None = progress.advance if progress else None
    # Largest first, so one big file does not start last and leave the other cores idle.
    todo.sort(key=lambda i: -shards[i].length)
    abort = threading.Event()
    pool = ThreadPoolExecutor(max_workers=opts.jobs or os.cpu_count() or 1)
    try:
        futures = {
            i: pool.submit(
                hash_shard, shards[i].files, shards[i].piece_length, shards[i].large, advance, abort
            )
            for i in todo
        }
        for i, future in futures.items():
            digests[i] = future.result()
            cache.put(shards[i], future.result())
    finally:
        # On an error or an interrupt, stop the other workers now rather than finish hashing.
        abort.set()
        pool.shutdown(wait=True, cancel_futures=True)
    cache.save()
    return [d for d in digests if d is not None], sum(shards[i].length for i in todo)


def _write_site(
    output: Output,
    shards: list[Shard],
    digests: list[ShardDigest],
    opts: BuildOptions,
    previous: tuple[set[str], set[str]],
    empty: list[str],
    pages: list[tuple[Path, Path]],
) -> BuildResult:
    """Write torrents and web seed links, then commit manifest, install script and SW."""
    trackers = [t for t in (tracker_for_base(t, opts.base_url) for t in opts.trackers) if t]
    absolute_base = opts.base_url if opts.base_url and "://" in opts.base_url else None
    built: list[BuiltShard] = []
    by_content: dict[str, BuiltShard] = {}
    aliases: dict[str, str] = {}
    seed_trees: dict[str, list[tuple[str, SiteFile]]] = {}
    for shard, digest in zip(shards, digests, strict=True):
        if shard.large:
            sha = digest.files[0].content.hex()
            if sha in by_content:  # same content as another large file: one shard for both
                aliases[shard.files[0].rel] = by_content[sha].shard.files[0].rel
                continue
            ext = os.path.splitext(shard.files[0].rel)[1]
            shard.key = "c-" + sha[:16] + (seed_path(ext) if ext[1:].isalnum() else "")
        info = info_bytes(shard, digest.pieces)
        ih = info_hash(info)
        item = BuiltShard(shard, digest, ih, web_seed_for(shard, ih))
        web_seeds = [absolute_base + item.web_seed] if absolute_base else []
        output.put_torrent(ih, metainfo(info, trackers, web_seeds))
        if not shard.single_file and ih not in seed_trees and not output.has_seed_tree(ih):
            seed_trees[ih] = [(f"{shard.key}/{seed_path(f.rel)}", f) for f in shard.files]
        if shard.large:
            by_content[sha] = item
        built.append(item)
    _put_seed_trees(output, seed_trees)
    manifest, text, tables = build_manifest(
        built, opts.base_url, opts.trackers, aliases, empty, opts.runtime
    )
    output.put_tables(tables)
    old, old_tables = previous
    new = {b.info_hash for b in built}
    agent, install = runtime.published_scripts()
    output.commit(
        text.encode(),
        install,
        runtime.service_worker(manifest["build"]).encode(),
        keep=old | new,  # visitors still on the previous build keep their web seeds and tables
        agent=agent,
        keep_tables=old_tables | set(tables),
        pages=pages,
    )
    return BuildResult(build=manifest["build"], shards=len(built), changed_shards=len(new - old))


def _put_seed_trees(output: Output, trees: dict[str, list[tuple[str, SiteFile]]]) -> None:
    """Link the new web seed trees, several at once: a fresh site's 20,000 links and their
    directories are metadata writes that wait on the filesystem, not on the CPU (3.2 s one
    after another for the bench tree)."""
    if not trees:
        return
    with ThreadPoolExecutor(max_workers=min(8, len(trees))) as pool:
        for future in [pool.submit(output.put_seed_tree, ih, e) for ih, e in trees.items()]:
            future.result()


def _write_uninstall(output: Output) -> BuildResult:
    """The kill switch: a service worker that removes itself and Planktos data."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "uninstalled": True,
    }
    manifest["build"] = build_id(manifest)
    install = runtime.install_script(uninstall=True).encode()
    output.commit(
        dumps(manifest).encode(),
        runtime.Script("install.js", install, gzipped(install)),
        runtime.service_worker(manifest["build"], uninstall=True).encode(),
        keep=set(),
    )
    return BuildResult(build=manifest["build"])
