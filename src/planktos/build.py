"""``planktos build``: walk, hash, plan shards, write torrents, manifest and runtime, swap in."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from planktos import runtime
from planktos.cache import HashCache
from planktos.hashing import ShardDigest, hash_shard
from planktos.inject import InjectReport, inject, loads_install_script
from planktos.manifest import (
    FORMAT,
    VERSION,
    BuiltShard,
    build_id,
    build_manifest,
    dumps,
    web_seed_for,
)
from planktos.output import Output, gzipped, locked, previous_manifest, previous_references
from planktos.shards import Shard, plan
from planktos.torrent import info_bytes, info_hash, metainfo
from planktos.urls import seed_path, tracker_for_base
from planktos.walk import SiteFile, Skipped, collect

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
        injected = None
        cache = HashCache(root, opts.cache_dir)
        if walk is not None and opts.inject:
            injected = inject(
                walk.files, opts.base_url, cache.page_has_tag, cache.note_page_has_tag
            )
            if injected.injected:  # their size, mtime and inode changed
                walk.files = _restat(walk.files, set(injected.injected))
        previous = previous_manifest(root)
        if walk is None:
            result = _write_uninstall(Output(root))
        else:
            shards = plan(walk.files, opts.piece_size)
            digests, hashed = _hash_all(shards, cache, opts, progress)
            output = Output(root)  # after hashing: a killed hash run leaves nothing behind
            empty = [f.rel for f in walk.files if f.size == 0]
            old = previous_references(root, previous)
            result = _write_site(output, shards, digests, opts, old, empty)
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
    result.seconds = time.perf_counter() - started
    return result


def _restat(files: list[SiteFile], rewritten: set[str]) -> list[SiteFile]:
    """``files`` with those ``rewritten`` (and any other name of the same file: a hard link, a
    symlink) stat-ed again; a second walk of a 100,000-file site took 2 s."""
    old = {(f.device, f.inode) for f in files if f.rel in rewritten}
    out = []
    for f in files:
        if (f.device, f.inode) in old:
            st = os.stat(f.path)
            f = SiteFile(f.rel, f.path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
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
