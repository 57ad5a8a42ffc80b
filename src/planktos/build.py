"""``planktos build``: walk, hash, plan shards, write torrents, manifest and runtime, swap in."""

from __future__ import annotations

import bisect
import contextlib
import gc
import os
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol

from planktos import runtime, state
from planktos.cache import HashCache
from planktos.errors import BuildError, advice
from planktos.hashing import ShardDigest, hash_shard
from planktos.inject import (
    INJECT_PREFIX,
    NO_HEAD,
    PRESENT,
    InjectReport,
    inject,
    loads_install_script,
)
from planktos.manifest import (
    FORMAT,
    SEED_DIR,
    TORRENT_DIR,
    VERSION,
    BuiltShard,
    Reuse,
    StaleState,
    build_id,
    build_manifest,
    dumps,
    read_full,
    table_loader,
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
from planktos.state import BuildState, ShardMemo
from planktos.tables import TABLE_DIR, boundary_bit
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
    collecting = gc.isenabled()
    # A large site's build makes 100,000s of objects and no garbage cycles: the cyclic
    # collector would run hundreds of times for nothing (0.1-0.2 s of a 100,000-page rebuild).
    gc.disable()
    try:
        result = _build(opts, progress)
    finally:
        if collecting:
            gc.enable()
    result.seconds = time.perf_counter() - started
    return result


def _build(opts: BuildOptions, progress: Progress | None) -> BuildResult:
    root = opts.root
    walk = None if opts.uninstall else collect(root, opts.paths, opts.excludes)
    with locked(root):
        try:
            return _build_locked(opts, walk, progress)
        except OSError as err:  # a full disk, a read-only file system, an I/O error
            raise _unwritable(err, root) from err


def _build_locked(opts: BuildOptions, walk: Walk | None, progress: Progress | None) -> BuildResult:
    root = opts.root
    previous = previous_manifest(root)
    cache = HashCache(root, opts.cache_dir)
    if walk is None:
        output = Output(root, fresh=previous is None)
        try:
            result = _write_uninstall(output)
        except BaseException:
            output.abandon()
            raise
        state.discard(state.state_path(cache.path))
        return result
    _remove_killed_injections(root, walk)
    try:
        return _build_site(opts, walk, previous, cache, progress, reuse=True)
    except StaleState:  # the previous output is not what its state says
        return _build_site(opts, walk, previous, cache, progress, reuse=False)


def _build_site(
    opts: BuildOptions,
    walk: Walk,
    previous: dict[str, Any] | None,
    cache: HashCache,
    progress: Progress | None,
    reuse: bool,
) -> BuildResult:
    """Inject, plan, hash, write and commit; with ``reuse``, keep what the state of the
    previous build (:mod:`planktos.state`) shows unchanged."""
    root = opts.root
    state_file = state.state_path(cache.path)
    old = state.load(state_file) if reuse else None
    files = walk.files
    changed = old.changed(files) if old is not None else {f.rel for f in files}
    pages: dict[str, str] = old.page_status(changed) if old is not None else {}
    injected = None
    if opts.inject:
        injected = inject(files, opts.base_url, pages)
        files, restated = _restat(files, injected)
        changed |= restated
        pages = dict.fromkeys(injected.present, PRESENT)
        pages.update(dict.fromkeys(injected.no_head, NO_HEAD))
    try:
        options = state.fingerprint(opts.piece_size, opts.base_url, opts.trackers)
        rels = [f.rel for f in files]
        bits = old.boundaries(rels) if old is not None else [boundary_bit(r) for r in rels]
        if old is not None and (
            previous is None
            or old.build != previous.get("build")
            or old.options != options
            or not old.leaves
        ):
            old = None  # its pages and bits stay useful, its shards and tables do not
        shards = plan(files, opts.piece_size, bits)
        memos: list[ShardMemo | None] = [None] * len(shards)
        if old is not None:
            memos = _reusable(root, shards, old, changed)
        digests, hashed = _hash_all(shards, memos, None if old else cache, opts, progress)
        output = Output(root, fresh=previous is None)  # after hashing: a killed hash run
        refs = previous_references(root, previous)  # leaves nothing behind
        if _published_what_is_now_skipped(root, previous, walk.skipped):
            refs = set(), set()  # the previous build's web seed trees must not serve it any more
        reusing = None
        if old is not None:
            hashed_files = [s.files for s, d in zip(shards, digests, strict=True) if d is not None]
            dirty = changed | {f.rel for group in hashed_files for f in group}
            load = table_loader(root / OUTPUT_DIR / "manifest.json")
            published = {n.removesuffix(".json") for n in _listdir(root / TABLE_DIR)}
            reusing = Reuse(old.leaves, old.aliases, dirty, load, published)
        staged = [(Path(t), Path(p)) for p, t in injected.staged.items()] if injected else []
        try:
            result, new_state = _write_site(
                output, shards, digests, memos, files, bits, opts, refs, reusing, staged
            )
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
    result.files = len(files)
    result.injected = injected
    # A page loads the script if --inject saw one, or a build saw one that is unchanged since.
    seen = injected is not None and bool(injected.injected or injected.present)
    if seen or PRESENT in pages.values():
        result.install_tag = True
    else:
        result.install_tag = loads_install_script(files)
    result.bytes = sum(map(attrgetter("size"), files))
    new_state.options = options
    new_state.rels, new_state.stamps = state.record_files(files, cache.start_ns)
    new_state.pages = "".join(map(pages.get, new_state.rels, repeat(state.UNSEEN)))
    new_state.bits = "".join(["1" if b else "0" for b in bits])
    state.save(state_file, new_state)
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


def _restat(files: list[SiteFile], injected: InjectReport) -> tuple[list[SiteFile], set[str]]:
    """``files`` with each page ``--inject`` rewrote (and any other name of it: a symlink)
    read from its rewritten copy until the commit renames that onto the page, and the paths
    of those; only names of the same inode pay a ``realpath`` (a second walk of a
    100,000-file site took 2 s)."""
    if not injected.staged:
        return files, set()
    rewritten = set(injected.injected)
    old = {(f.device, f.inode) for f in files if f.rel in rewritten}
    out = []
    restated = set()
    for f in files:
        if (f.device, f.inode) in old:
            tmp = injected.staged.get(os.path.realpath(f.path))
            if tmp is not None:  # else a hard link of the page: another file, not rewritten
                st = os.stat(tmp)
                f = SiteFile(f.rel, tmp, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
                restated.add(f.rel)
        out.append(f)
    return out, restated


def _reusable(
    root: Path, shards: list[Shard], old: BuildState, changed: set[str]
) -> list[ShardMemo | None]:
    """For each shard, what the previous build recorded of it if it may be kept unread: the
    same files, none changed, its torrent (and web seed links) still there."""
    torrents = {n.removesuffix(".torrent") for n in _listdir(root / TORRENT_DIR)}
    trees = set(_listdir(root / SEED_DIR))
    edits = sorted(changed)
    out: list[ShardMemo | None] = []
    for s in shards:
        first, last = s.files[0].rel, s.files[-1].rel
        memo = old.shards.get(first if s.large else s.key)
        i = bisect.bisect_left(edits, first)  # the first changed path from the shard's first on
        if (
            memo is None
            or (memo.first, memo.last, memo.count) != (first, last, len(s.files))
            or memo.info_hash not in torrents
            or (not s.single_file and memo.info_hash not in trees)
            or (i < len(edits) and edits[i] <= last and any(f.rel in changed for f in s.files))
        ):
            memo = None
        out.append(memo)
    return out


def _listdir(directory: Path) -> list[str]:
    """The names in ``directory``; none when it cannot be listed (nothing there to keep)."""
    try:
        return os.listdir(directory)
    except OSError:
        return []


def _hash_all(
    shards: list[Shard],
    memos: list[ShardMemo | None],
    cache: HashCache | None,
    opts: BuildOptions,
    progress: Progress | None,
) -> tuple[list[ShardDigest | None], int]:
    """Hash every shard that is neither kept (``memos``) nor in the ``cache``; returns the
    digests (None for kept shards) and bytes read."""
    digests: list[ShardDigest | None] = [
        None if m is not None or cache is None else cache.get(s)
        for s, m in zip(shards, memos, strict=True)
    ]
    todo = [i for i, d in enumerate(digests) if d is None and memos[i] is None]
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
            if cache is not None:
                cache.put(shards[i], future.result())
    finally:
        # On an error or an interrupt, stop the other workers now rather than finish hashing.
        abort.set()
        pool.shutdown(wait=True, cancel_futures=True)
    if cache is not None:
        cache.save()
    return digests, sum(shards[i].length for i in todo)


def _write_site(
    output: Output,
    shards: list[Shard],
    digests: list[ShardDigest | None],
    memos: list[ShardMemo | None],
    files: list[SiteFile],
    bits: list[bool],
    opts: BuildOptions,
    previous: tuple[set[str], set[str]],
    reuse: Reuse | None,
    pages: list[tuple[Path, Path]],
) -> tuple[BuildResult, BuildState]:
    """Write torrents and web seed links of shards not kept, then the tables, then commit
    manifest, install script and SW; returns the result and the state to record."""
    trackers = [t for t in (tracker_for_base(t, opts.base_url) for t in opts.trackers) if t]
    absolute_base = opts.base_url if opts.base_url and "://" in opts.base_url else None
    built: list[BuiltShard] = []
    by_content: dict[str, BuiltShard] = {}
    aliases: dict[str, str] = {}
    seed_trees: dict[str, list[tuple[str, SiteFile]]] = {}
    new_state = BuildState()
    for shard, digest, memo in zip(shards, digests, memos, strict=True):
        first = shard.files[0]
        sha = None
        if shard.large:
            sha = memo.content if memo is not None else digest.files[0].content.hex()  # type: ignore[union-attr]
            assert sha is not None
            if sha in by_content:  # same content as another large file: one shard for both
                aliases[first.rel] = by_content[sha].shard.files[0].rel
                ih = by_content[sha].info_hash
                new_state.shards[first.rel] = ShardMemo(first.rel, first.rel, 1, ih, sha, True)
                continue
            if memo is not None and memo.alias:  # its torrent names another file's web seed
                raise StaleState(first.rel)
            ext = os.path.splitext(first.rel)[1]
            shard.key = "c-" + sha[:16] + (seed_path(ext) if ext[1:].isalnum() else "")
        if memo is not None:
            ih = memo.info_hash
        else:
            assert digest is not None
            info = info_bytes(shard, digest.pieces)
            ih = info_hash(info)
            web_seeds = [absolute_base + web_seed_for(shard, ih)] if absolute_base else []
            output.put_torrent(ih, metainfo(info, trackers, web_seeds))
            if not shard.single_file and ih not in seed_trees and not output.has_seed_tree(ih):
                seed_trees[ih] = [(f"{shard.key}/{seed_path(f.rel)}", f) for f in shard.files]
        item = BuiltShard(shard, digest, ih, web_seed_for(shard, ih))
        if shard.large:
            by_content[sha] = item  # type: ignore[index]
        built.append(item)
        new_state.shards[first.rel if shard.large else shard.key] = ShardMemo(
            first.rel, shard.files[-1].rel, len(shard.files), ih, sha
        )
    _put_seed_trees(output, seed_trees)
    if reuse is not None and (
        any(d is not None for s, d in zip(shards, digests, strict=True) if s.large)
        or aliases != reuse.aliases
    ):
        # A large file changed: its copies (aliases) take their entries from it.
        reuse.dirty |= {f.rel for s in shards if s.large for f in s.files}
    manifest, text, tables = build_manifest(
        built, files, opts.base_url, opts.trackers, aliases, opts.runtime, bits, reuse
    )
    output.put_tables(tables.new)
    old, old_tables = previous
    new = {b.info_hash for b in built}
    agent, install = runtime.published_scripts()
    output.commit(
        text.encode(),
        install,
        runtime.service_worker(manifest["build"]).encode(),
        keep=old | new,  # visitors still on the previous build keep their web seeds and tables
        agent=agent,
        keep_tables=old_tables | tables.names,
        pages=pages,
    )
    new_state.build = manifest["build"]
    new_state.leaves = tables.leaves
    new_state.aliases = aliases
    result = BuildResult(build=manifest["build"], shards=len(built), changed_shards=len(new - old))
    return result, new_state


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
