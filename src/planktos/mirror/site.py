"""A Planktos site seen from outside: its manifest (polled with conditional GET), its file
tables and torrents, every relative reference resolved against the URL the mirror was given.

Plain HTTP with the standard library: the mirror asks for a few small files a minute.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from planktos import __version__
from planktos.bencode import decode, encode
from planktos.errors import BencodeError, PlanktosError
from planktos.manifest import FORMAT, VERSION
from planktos.tables import read_table, walk
from planktos.urls import tracker_for_base

MANIFEST = "planktos/manifest.json"
TIMEOUT_S = 15.0
USER_AGENT = f"planktos-mirror/{__version__}"


class MirrorError(PlanktosError):
    """The mirror cannot follow the site as asked."""


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """One shard of the site as the mirror needs it: where its torrent and web seed are, and
    which of its files (torrent file indexes) are wanted (all unless ``--only`` says)."""

    key: str  # the shard id, also the torrent's name
    infohash: str
    length: int
    torrent_url: str
    web_seed: str
    wanted: frozenset[int] | None = None  # None: every file

    def with_wanted(self, wanted: frozenset[int] | None) -> ShardInfo:
        return ShardInfo(
            self.key, self.infohash, self.length, self.torrent_url, self.web_seed, wanted
        )


@dataclass
class Snapshot:
    """One build of the site: its id, trackers (ws URLs), STUN server and shards."""

    build: str
    trackers: list[str]
    stun: str
    shards: dict[str, ShardInfo]  # by info hash
    uninstalled: bool = False
    paths: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (infohash, index)


def site_urls(url: str) -> tuple[str, str]:
    """The site's base URL and its manifest's URL, from a site URL or a manifest URL.

    Raises :class:`MirrorError` for anything but an http(s) URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise MirrorError(url, "invalid URL; give the http(s) URL of a Planktos site")
    clean = parts._replace(query="", fragment="").geturl()
    if parts.path.endswith(".json"):
        base = urljoin(clean, "../")  # <base>planktos/manifest.json
        return base, clean
    base = clean if clean.endswith("/") else clean + "/"
    return base, base + MANIFEST


def resolve_trackers(trackers: object, base: str) -> list[str]:
    """The manifest's tracker references as ws(s) URLs (relative ones against ``base``)."""
    out: list[str] = []
    for tracker in trackers if isinstance(trackers, list) else []:
        if isinstance(tracker, str):
            url = tracker_for_base(tracker, base)
            if url and url not in out:
                out.append(url)
    return out


def stun_server(runtime: object) -> str:
    """``host:port`` of the site's first STUN server (the browsers' ICE servers), or ``""``."""
    servers = runtime.get("ice_servers") if isinstance(runtime, dict) else None
    for server in servers if isinstance(servers, list) else []:
        urls = server.get("urls") if isinstance(server, dict) else None
        for url in [urls] if isinstance(urls, str) else urls if isinstance(urls, list) else []:
            if isinstance(url, str) and url.startswith("stun:"):
                host = url.removeprefix("stun:").split("?")[0]
                return host if ":" in host.strip("[]").split("]")[-1] else host + ":3478"
    return ""


def matches(path: str, only: list[str]) -> bool:
    """Whether a site path (decoded, relative to the base) is one ``--only`` asks for: the path
    itself, or a directory holding it."""
    for want in only:
        want = want.strip("/")
        if not want or path == want or path.startswith(want + "/"):
            return True
    return False


class Site:
    """The site at ``url``: fetches its manifest (conditionally), tables and torrents, and
    keeps the tables it read in ``cache`` once set (they are immutable, named by SHA-256)."""

    def __init__(self, url: str, cache: Path | None = None) -> None:
        self.url = url
        self.base, self.manifest_url = site_urls(url)
        self.cache = cache
        self.etag: str | None = None
        self.modified: str | None = None
        self.pending: dict[str, bytes] = {}  # tables read before the cache was set

    def use_cache(self, cache: Path) -> None:
        """Keep tables in ``cache`` from now on, those already read included."""
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        for sha, body in self.pending.items():
            (cache / f"{sha}.json").write_bytes(body)
        self.pending.clear()

    def get(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        """Status, body and headers of a GET of ``url``; raises MirrorError when unreachable."""
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as err:
            return err.code, b"", err.headers
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise MirrorError(url, f"cannot reach the site ({reason})") from None

    def poll(self) -> dict[str, Any] | None:
        """The manifest's top level when it changed since the last poll, else None.

        Raises MirrorError when the site answers with something that is not a manifest.
        """
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.modified:
            headers["If-Modified-Since"] = self.modified
        status, body, got = self.get(self.manifest_url, headers)
        if status == 304:
            return None
        if status != 200:
            raise MirrorError(
                self.url,
                f"not a Planktos site: {self.manifest_url} answered HTTP {status} "
                "(give the URL the site is served at, or its planktos/manifest.json)",
            )
        top = parse_manifest(body, self.manifest_url)
        self.etag = got.get("ETag")
        self.modified = got.get("Last-Modified")
        return top

    def table(self, tables_url: str, sha: str) -> dict[str, Any]:
        """The table ``sha`` (checked against its SHA-256), from the cache or the site."""
        cached = self.cache / f"{sha}.json" if self.cache else None
        if cached and cached.is_file():
            try:
                return read_table(cached.read_bytes(), sha)
            except ValueError:
                cached.unlink()
        url = urljoin(tables_url, f"{sha}.json")
        status, body, _ = self.get(url)
        if status != 200:
            raise MirrorError(url, f"manifest table answered HTTP {status}")
        try:
            node = read_table(body, sha)
        except ValueError as err:
            raise MirrorError(url, str(err)) from None
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(body)
        else:
            self.pending[sha] = body
        return node

    def snapshot(self, top: dict[str, Any], only: list[str]) -> Snapshot:
        """Every shard of the build ``top`` (the files ``only`` names, when given)."""
        trackers = resolve_trackers(top.get("trackers"), self.base)
        stun = stun_server(top.get("runtime"))
        if top.get("uninstalled"):
            return Snapshot(str(top.get("build")), trackers, stun, {}, uninstalled=True)
        tables_url = urljoin(self.base, str(top.get("tables", "planktos/i/")))
        shards: dict[str, ShardInfo] = {}
        wanted: dict[str, set[int]] = {}
        paths: dict[str, tuple[str, int]] = {}
        try:
            for leaf, _ in walk(top["index"], lambda sha: self.table(tables_url, sha)):
                for key, entry in leaf["shards"].items():
                    info = ShardInfo(
                        key,
                        str(entry["infohash"]),
                        int(entry["length"]),
                        urljoin(self.base, entry["torrent"]),
                        urljoin(self.base, entry["webseed"]),
                    )
                    shards.setdefault(info.infohash, info)
                for path, entry in leaf["files"].items():
                    if "shard" not in entry:
                        continue  # an empty file: nothing to seed
                    infohash = str(leaf["shards"][entry["shard"]]["infohash"])
                    paths[unquote(path)] = (infohash, int(entry["index"]))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise MirrorError(self.manifest_url, f"malformed manifest tables ({err})") from None
        if only:
            for path, (infohash, index) in paths.items():
                if matches(path, only):
                    wanted.setdefault(infohash, set()).add(index)
            shards = {
                ih: info.with_wanted(frozenset(wanted[ih]))
                for ih, info in shards.items()
                if ih in wanted
            }
        return Snapshot(str(top.get("build")), trackers, stun, shards, paths=paths)

    def torrent(self, shard: ShardInfo) -> bytes:
        """The .torrent of ``shard``, checked to carry the info hash the manifest names."""
        status, body, _ = self.get(shard.torrent_url)
        if status != 200:
            raise MirrorError(shard.torrent_url, f"torrent answered HTTP {status}")
        if torrent_infohash(body) != shard.infohash:
            raise MirrorError(shard.torrent_url, "torrent does not match the manifest's info hash")
        return body


def parse_manifest(body: bytes, where: str) -> dict[str, Any]:
    """The top level of a manifest from its bytes; MirrorError when it is none this reads."""
    try:
        top = json.loads(body)
    except ValueError:
        top = None
    if not isinstance(top, dict) or top.get("format") != FORMAT:
        raise MirrorError(where, "not a Planktos site: this is not a Planktos manifest")
    if top.get("version") != VERSION:
        raise MirrorError(
            where,
            f"manifest version {top.get('version')!r}; this planktos reads version {VERSION} "
            "(upgrade planktos, or ask the site to rebuild)",
        )
    if not top.get("uninstalled") and not isinstance(top.get("index"), dict):
        raise MirrorError(where, "not a Planktos site: the manifest has no index")
    return top


def torrent_infohash(data: bytes) -> str | None:
    """Hex SHA-1 of the info dictionary of a bencoded torrent, or None if malformed.

    The decoder accepts canonical bencode only, so encoding the info dictionary again gives
    back its exact bytes.
    """
    try:
        meta = decode(data)
    except BencodeError:
        return None
    info = meta.get(b"info") if isinstance(meta, dict) else None
    if not isinstance(info, dict):
        return None
    return hashlib.sha1(encode(info)).hexdigest()  # type: ignore[arg-type]
