"""``planktos build``: walk, hash, plan shards, write torrents, manifest and runtime, swap in."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from planktos import runtime
from planktos.cache import HashCache
from planktos.hashing import ShardDigest, hash_shard
from planktos.manifest import BuiltShard, build_id, build_manifest, dumps, web_seed_for
from planktos.output import Stage, locked, previous_manifest, remove_leftovers
from planktos.shards import Shard, plan
from planktos.torrent import info_dict, info_hash, metainfo
from planktos.urls import seed_path, tracker_for_base
from planktos.walk import SW_NAME, Skipped, collect

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
    cache_dir: Path | None = None


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
        previous = previous_manifest(root)
        remove_leftovers(root)
        stage = Stage(root)
        try:
            if walk is None:
                result = _write_uninstall(stage)
            else:
                shards = plan(walk.files, opts.piece_size)
                digests, hashed = _hash_all(shards, root, opts, progress)
                result = _write_site(stage, shards, digests, opts, previous)
                result.hashed_bytes = hashed
                result.skipped = walk.skipped
                result.files = len(walk.files)
                result.bytes = sum(f.size for f in walk.files)
            stage.commit()
        except BaseException:
            stage.discard()
            raise
    result.copies = stage.copies
    result.seconds = time.perf_counter() - started
    return result


def _hash_all(
    shards: list[Shard], root: Path, opts: BuildOptions, progress: Progress | None
) -> tuple[list[ShardDigest], int]:
    """Hash every shard the cache cannot answer for; returns digests and bytes read."""
    cache = HashCache(root, opts.cache_dir)
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
    stage: Stage,
    shards: list[Shard],
    digests: list[ShardDigest],
    opts: BuildOptions,
    previous: dict[str, object] | None,
) -> BuildResult:
    """Write torrents, web seed links, manifest and runtime into the stage."""
    trackers = [t for t in (tracker_for_base(t, opts.base_url) for t in opts.trackers) if t]
    absolute_base = opts.base_url if opts.base_url and "://" in opts.base_url else None
    built: list[BuiltShard] = []
    by_content: dict[str, BuiltShard] = {}
    aliases: dict[str, str] = {}
    for shard, digest in zip(shards, digests, strict=True):
        if shard.large:
            sha = digest.files[0].sha256.hex()
            if sha in by_content:  # same content as another large file: one shard for both
                aliases[shard.files[0].rel] = by_content[sha].shard.files[0].rel
                continue
            ext = os.path.splitext(shard.files[0].rel)[1]
            shard.key = "c-" + sha[:16] + (seed_path(ext) if ext[1:].isalnum() else "")
        info = info_dict(shard, digest.pieces)
        item = BuiltShard(shard, digest, info_hash(info), web_seed_for(shard))
        web_seeds = [absolute_base + item.web_seed] if absolute_base else []
        stage.write(item.torrent_path, metainfo(info, trackers, web_seeds))
        if not shard.single_file:
            for f in shard.files:
                stage.link(f"{item.web_seed}{shard.key}/{seed_path(f.rel)}", f)
        if shard.large:
            by_content[sha] = item
        built.append(item)
    manifest = build_manifest(built, opts.base_url, opts.trackers, aliases)
    stage.write("planktos/manifest.json", dumps(manifest))
    stage.write("planktos/install.js", runtime.install_script())
    stage.write(SW_NAME, runtime.service_worker(manifest["build"]))
    old_hashes = set()
    if previous and isinstance(previous.get("shards"), dict):
        shards_table = previous["shards"]
        assert isinstance(shards_table, dict)
        old_hashes = {s.get("infohash") for s in shards_table.values() if isinstance(s, dict)}
    return BuildResult(
        build=manifest["build"],
        shards=len(built),
        changed_shards=sum(1 for b in built if b.info_hash not in old_hashes),
    )


def _write_uninstall(stage: Stage) -> BuildResult:
    """The kill switch: a service worker that removes itself and Planktos data."""
    manifest: dict[str, object] = {
        "format": "planktos-manifest",
        "version": 1,
        "uninstalled": True,
        "shards": {},
        "files": {},
    }
    build = build_id(manifest)
    manifest["build"] = build
    stage.write("planktos/manifest.json", dumps(manifest))
    stage.write("planktos/install.js", runtime.install_script(uninstall=True))
    stage.write(SW_NAME, runtime.service_worker(build, uninstall=True))
    return BuildResult(build=build)
