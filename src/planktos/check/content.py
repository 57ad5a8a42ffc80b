"""The site's content as peers and the service worker fetch it: the manifest's tables (a few
leaves), a sample of torrents (info hash, web seeds) and ranges of their web seeds, checked to
the byte."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, cast
from urllib.parse import quote

from planktos.bencode import decode, encode
from planktos.check.findings import Finding, error, ok
from planktos.check.judge import (
    RangeAnswer,
    compression_problems,
    immutable_problems,
    range_problems,
)
from planktos.check.probe import COMPRESSED, Prober
from planktos.check.target import Site
from planktos.errors import BencodeError
from planktos.tables import is_leaf, read_table

MAX_LEAVES = 3
MAX_SHARDS = 4


async def _table(p: Prober, site: Site, sha: str, found: list[Finding]) -> dict[str, Any] | None:
    url = site.at(f"{site.top['tables']}{sha}.json")
    got = await p.get(url)
    if got.status != 200:
        found.append(
            error("tables", url, f"answered {got.status}", "deploy planktos/ whole with the site")
        )
        return None
    if not found:  # one cache or coding finding is enough: every table is served alike
        found += immutable_problems("tables", url, got.headers)
        compressed = await p.get(url, COMPRESSED, body=False)
        found += compression_problems("tables", url, got.body, compressed.headers)
    try:
        return read_table(got.body, sha)
    except ValueError as err:
        found.append(error("tables", url, str(err), "deploy the tables as built (no rewriting)"))
        return None


async def tables(p: Prober, site: Site) -> list[Finding]:
    """Read the refs table (info hashes) and a few leaves of the file tree (files, shards)."""
    found: list[Finding] = []
    refs = await _table(p, site, str(site.top["refs"]), found)
    if refs is not None:
        site.info_hashes = [str(h) for h in refs.get("infohashes", [])]
    leaves: list[dict[str, Any]] = []
    level = [site.top["index"]]
    while level and len(leaves) < MAX_LEAVES:
        node = level.pop(0)
        if is_leaf(node):
            leaves.append(node)
            continue
        children = node.get("tables") or []
        picks = {0, len(children) // 2, len(children) - 1} if children else set()
        for i in sorted(picks):
            child = await _table(p, site, str(children[i][1]), found)
            if child is not None:
                level.append(child)
    for leaf in leaves:
        site.files.update(leaf.get("files", {}))
        site.shards.update(leaf.get("shards", {}))
    what = f"{len(site.info_hashes)} shards; {len(site.files)} files in {len(leaves)} leaves read"
    return found or [ok("tables", site.at(str(site.top["tables"])), what)]


def _sample_shards(site: Site) -> list[str]:
    """A few shards: the largest single-file ones and a few groups of small files."""
    singles = sorted(
        (s for s, v in site.shards.items() if v.get("files") == 1),
        key=lambda s: -int(site.shards[s].get("length", 0)),
    )
    groups = [s for s, v in site.shards.items() if v.get("files", 0) > 1]
    chosen = singles[:2] + groups[: MAX_SHARDS - min(2, len(singles))]
    return chosen


async def torrents_and_seeds(p: Prober, site: Site) -> list[Finding]:
    chosen = _sample_shards(site)
    results = await asyncio.gather(*(_shard(p, site, s) for s in chosen))
    torrents = [f for r in results for f in r[0]]
    seeds = [f for r in results for f in r[1]]
    ranges = sum(r[2] for r in results)
    where = site.at("planktos/t/")
    out = torrents or [ok("torrents", where, f"{len(chosen)} sampled: info hashes match")]
    if not chosen:
        return out
    return out + (
        seeds
        or [ok("web seeds", site.url, f"{ranges} ranges answered 206 with exact Content-Range")]
    )


async def _shard(p: Prober, site: Site, shard_id: str) -> tuple[list[Finding], list[Finding], int]:
    """One shard: its torrent (info hash, web seeds, trackers) and ranges of its web seed."""
    shard = site.shards[shard_id]
    url = site.at(str(shard["torrent"]))
    got = await p.get(url)
    if got.status != 200:
        fix = "deploy planktos/ whole with the site"
        return [error("torrents", url, f"answered {got.status}", fix)], [], 0
    found = immutable_problems("torrents", url, got.headers)
    compressed = await p.get(url, COMPRESSED, body=False)
    found += compression_problems("torrents", url, got.body, compressed.headers)
    try:
        meta = decode(got.body)
    except BencodeError:
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get(b"info"), dict):
        return [error("torrents", url, "is not a torrent", "deploy planktos/ as built")], [], 0
    info = cast(dict[bytes, Any], meta[b"info"])
    ih = hashlib.sha1(encode(cast(Any, info))).hexdigest()
    if ih != shard["infohash"]:
        problem = f"info hash {ih}, the manifest says {shard['infohash']}"
        fix = "deploy planktos/ as built (no rewriting)"
        return [*found, error("torrents", url, problem, fix)], [], 0  # its ranges mean nothing
    webseed = site.at(str(shard["webseed"]))
    url_list = meta.get(b"url-list") or []
    for entry in url_list if isinstance(url_list, list) else [url_list]:
        listed = entry.decode("utf-8", "replace") if isinstance(entry, bytes) else str(entry)
        if listed != webseed:
            found.append(
                error(
                    "base-url",
                    url,
                    f"names the web seed {listed}, but the file is at {webseed}",
                    f"rebuild with --base-url {site.url}",
                )
            )
    seeds, ranges = await _seed_ranges(p, site, shard_id, info, webseed)
    return found, seeds, ranges


async def _seed_ranges(
    p: Prober, site: Site, shard_id: str, info: dict[bytes, Any], webseed: str
) -> tuple[list[Finding], int]:
    """Ranges of a shard's web seed, checked to the byte: the last piece of a single-file
    torrent (against its SHA-1); a file of a tree, at its web seed and at its own URL (against
    the file, itself checked against the manifest's SHA-256). Returns findings and ranges asked."""
    piece_length = int(info[b"piece length"])
    if b"length" in info:
        total = int(info[b"length"])
        if total < 2:
            return [], 0
        last = (total - 1) // piece_length
        digest = bytes(info[b"pieces"][20 * last : 20 * last + 20])
        return await _range(p, webseed, last * piece_length, total - 1, total, sha1=digest), 1
    entries = {
        e["index"]: k
        for k, e in site.files.items()
        if e.get("shard") == shard_id and e.get("length", 0) >= 2
    }
    if not entries:
        return [], 0
    index = min(entries)
    key = entries[index]
    total = int(site.files[key]["length"])
    path = "/".join(part.decode() for part in info[b"files"][index][b"path"])
    seed_url = f"{webseed}{quote(shard_id)}/{path}"
    whole = await p.get(site.at(key))
    if whole.status != 200:
        fix = "deploy every file of the build with the site"
        return [error("web seeds", whole.url, f"answered {whole.status}", fix)], 0
    sha = site.files[key].get("sha256")
    if sha is not None and hashlib.sha256(whole.body).hexdigest() != sha:
        problem = "differs from the file the build hashed: browsers reject its bytes"
        fix = "rebuild after changing files, and deploy the build's output with them"
        return [error("web seeds", whole.url, problem, fix)], 0
    end = min(total - 1, piece_length)
    expect = whole.body[1 : end + 1]
    found = await _range(p, seed_url, 1, end, total, expect=expect)
    found += await _range(p, site.at(key), 1, end, total, expect=expect)
    return found, 2


async def _range(
    p: Prober,
    url: str,
    start: int,
    end: int,
    total: int,
    *,
    expect: bytes | None = None,
    sha1: bytes | None = None,
) -> list[Finding]:
    """Ask ``url`` for bytes ``start``-``end`` of ``total`` and judge the answer."""
    got = await p.get(url, {"Range": f"bytes={start}-{end}"})
    if got.status == 0:
        return [error("web seeds", url, f"no answer ({got.error})", "check the host")]
    answer = RangeAnswer(got.status, got.headers, got.body)
    found = range_problems("web seeds", url, start, end, total, answer)
    wrong = (expect is not None and got.body != expect) or (
        sha1 is not None and hashlib.sha1(got.body).digest() != sha1
    )
    if not found and wrong:
        problem = "serves other bytes than the build published: peers reject them"
        fix = "rebuild after changing files, and deploy planktos/ from the same build"
        found = [error("web seeds", url, problem, fix)]
    return found
