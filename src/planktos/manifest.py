"""The manifest: what a visitor's browser needs to find, fetch and verify every file.

Format ``planktos-manifest`` version 1 (documented in the README). Keys are sorted and the
output is deterministic, so the build id, a hash of everything else, changes exactly when
something a browser sees changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from planktos import __version__
from planktos.hashing import ShardDigest
from planktos.mime import content_type
from planktos.shards import Shard
from planktos.urls import url_path

FORMAT = "planktos-manifest"
VERSION = 1
# Browser runtime settings (docs/runtime.md); the site owner's limits travel in the manifest.
RUNTIME_DEFAULTS: dict[str, Any] = {
    "deadline_ms": 2500,  # first bytes from the agent within this, or the SW asks the origin
    "ice_servers": [],  # WebRTC ICE servers; none: host candidates only
    "upload_kbps": None,  # upload limit per visitor; None: unlimited
    "upload_on_metered": False,  # upload under Save-Data or on a metered connection
    "max_seeded": 50,  # torrents the agent seeds at once, most recently used first
    "stats_interval_s": 60,  # seconds between a visitor's reports to /planktos/stats; 0: none
}
TORRENT_DIR = "planktos/t"
SEED_DIR = "planktos/w"


@dataclass(frozen=True, slots=True)
class BuiltShard:
    """A shard with its hashes and info hash, ready for the manifest."""

    shard: Shard
    digest: ShardDigest
    info_hash: str
    web_seed: str  # URL relative to the site base

    @property
    def torrent_path(self) -> str:
        """Where the .torrent file is published, relative to the site base."""
        return f"{TORRENT_DIR}/{self.info_hash}.torrent"


def web_seed_for(shard: Shard, info_hash: str) -> str:
    """The web seed URL of a shard, relative to the site base (BEP 19).

    Single-file torrents name the file itself; multi-file torrents name the directory that
    holds ``<torrent name>/<path>`` hard links to the site's files.
    """
    if shard.single_file:
        return url_path(shard.files[0].rel)
    return f"{SEED_DIR}/{info_hash}/"


def build_manifest(
    shards: list[BuiltShard],
    base_url: str | None,
    trackers: list[str],
    aliases: dict[str, str] | None = None,
    empty: list[str] | None = None,
) -> tuple[dict[str, Any], str]:
    """Assemble the manifest, including its build id; returns it and its canonical JSON.

    ``aliases`` maps the path of a large file to the path of an identical one whose shard it
    shares (content-keyed shards hold each content once). ``empty`` lists empty files, which
    have no shard.
    """
    files: dict[str, Any] = {}
    shard_table: dict[str, Any] = {}
    for built in shards:
        shard = built.shard
        shard_table[shard.key] = {
            "infohash": built.info_hash,
            "torrent": built.torrent_path,
            "webseed": built.web_seed,
            "piece_length": shard.piece_length,
            "length": shard.length,
            "files": len(shard.files),
        }
        for index, (f, offset, digest) in enumerate(
            zip(shard.files, shard.offsets, built.digest.files, strict=True)
        ):
            entry: dict[str, Any] = {
                "shard": shard.key,
                "index": index,
                "offset": offset,
                "length": f.size,
                "type": content_type(f.rel),
            }
            if digest.chunks is None:
                entry["sha256"] = digest.content.hex()
            else:
                entry["chunks_sha256"] = digest.content.hex()
                entry["chunks"] = [c.hex() for c in digest.chunks]
            files[url_path(f.rel)] = entry
    for rel in empty or []:
        files[url_path(rel)] = {
            "length": 0,
            "sha256": hashlib.sha256(b"").hexdigest(),
            "type": content_type(rel),
        }
    for alias, original in (aliases or {}).items():
        files[url_path(alias)] = dict(files[url_path(original)], type=content_type(alias))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "generator": f"planktos {__version__}",
        "base": base_url,
        "trackers": trackers,
        "runtime": dict(RUNTIME_DEFAULTS),
        "shards": shard_table,
        "files": files,
    }
    manifest["build"], text = dumps_with_id(manifest)
    return manifest, text


def build_id(manifest: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical manifest without its build id."""
    body = {k: v for k, v in manifest.items() if k != "build"}
    return hashlib.sha256(dumps(body).encode()).hexdigest()[:16]


def dumps(manifest: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dumps_with_id(body: dict[str, Any]) -> tuple[str, str]:
    """The build id of ``body`` (a manifest without ``build``) and the manifest's canonical JSON.

    Equal to ``dumps(body | {"build": id})``, with one encoding instead of two (a large site's
    manifest takes a noticeable part of a build to encode): ``build`` sorts right after
    ``base``, which every manifest has.
    """
    text = dumps(body)
    head = '{"base":' + json.dumps(body["base"], ensure_ascii=False) + ","
    if "build" in body or not text.startswith(head):
        raise ValueError("dumps_with_id: the body needs a base and no build")
    ident = hashlib.sha256(text.encode()).hexdigest()[:16]
    return ident, f'{head}"build":"{ident}",{text[len(head) :]}'
