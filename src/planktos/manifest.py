"""The manifest: what a visitor's browser needs to find, fetch and verify every file.

Format ``planktos-manifest`` version 1 (documented in the README). Keys are sorted and the
output is deterministic, so the build id, a hash of everything else, changes exactly when
something a browser sees changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planktos import __version__
from planktos.errors import InputError
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


def _whole(low: int, high: int | None = None, *, none_ok: bool = False) -> Any:
    def check(value: object) -> object:
        if value is None and none_ok:
            return None
        whole = isinstance(value, int) and not isinstance(value, bool)
        if whole and value >= low and (high is None or value <= high):  # type: ignore[operator]
            return value
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"expected a whole number {span}" + (", or null" if none_ok else ""))

    return check


def _flag(value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _stats_interval(value: object) -> object:
    _whole(0)(value)
    if 0 < value < 10:  # type: ignore[operator]
        raise ValueError("expected 0 (no reports) or at least 10 seconds")
    return value


def _ice_servers(value: object) -> object:
    wrong = ValueError(
        'expected a JSON list such as [{"urls": "stun:stun.example.com:3478"}] '
        "(optional username, credential)"
    )
    if not isinstance(value, list):
        raise wrong
    for server in value:
        if not isinstance(server, dict) or not set(server) <= {"urls", "username", "credential"}:
            raise wrong
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not urls or not isinstance(urls, list):
            raise wrong
        for url in urls:
            if not isinstance(url, str) or not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(f"ICE server URL {url!r} must start with stun:, turn: or turns:")
        if not all(isinstance(server.get(k, ""), str) for k in ("username", "credential")):
            raise wrong
    return value


# Each runtime setting's check: it returns the value or raises ValueError saying what it wants.
RUNTIME_CHECKS: dict[str, Any] = {
    "deadline_ms": _whole(100, 60_000),
    "ice_servers": _ice_servers,
    "upload_kbps": _whole(1, none_ok=True),
    "upload_on_metered": _flag,
    "max_seeded": _whole(1, 10_000),
    "stats_interval_s": _stats_interval,
}
assert RUNTIME_CHECKS.keys() == RUNTIME_DEFAULTS.keys()


def check_runtime(settings: object, *, where: str = "runtime") -> dict[str, Any]:
    """Runtime settings a site owner gave (a mapping of name to JSON value), checked.

    Raises :class:`InputError` naming the setting and what it accepts.
    """
    if not isinstance(settings, dict):
        raise InputError(repr(settings), f"{where}: expected a mapping of settings to values")
    checked: dict[str, Any] = {}
    for name, value in settings.items():
        check = RUNTIME_CHECKS.get(name)
        if check is None:
            known = ", ".join(RUNTIME_DEFAULTS)
            raise InputError(f"{where}.{name}", f"unknown runtime setting; known: {known}")
        try:
            checked[name] = check(value)
        except ValueError as err:
            raise InputError(f"{where}.{name}={json.dumps(value)}", str(err)) from None
    return checked


def parse_runtime_option(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` of ``--runtime``; the value is JSON (``500``, ``true``, ``null``, a list)."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise InputError(text, "expected NAME=VALUE, e.g. --runtime upload_kbps=500")
    try:
        value = json.loads(raw)
    except ValueError:
        raise InputError(
            text, "the value must be JSON: a number, true, false, null or a list"
        ) from None
    return name, check_runtime({name: value}, where="--runtime")[name]


TORRENT_DIR = "planktos/t"
SEED_DIR = "planktos/w"


def info_hashes(path: Path) -> frozenset[bytes]:
    """The info hashes of the shards of the manifest at ``path`` (what a tracker serves).

    Raises OSError when it cannot be read and ValueError when it is not a manifest.
    """
    try:
        shards = json.loads(path.read_text(encoding="utf-8"))["shards"]
        return frozenset(bytes.fromhex(s["infohash"]) for s in shards.values())
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: not a planktos manifest") from err


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
    runtime: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """Assemble the manifest, including its build id; returns it and its canonical JSON.

    ``runtime`` holds the site owner's runtime settings (checked), over the defaults.

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
        "runtime": RUNTIME_DEFAULTS | (runtime or {}),
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
