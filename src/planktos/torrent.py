"""BitTorrent v1 metainfo for a shard (BEP 3), with web seeds (BEP 19).

The info dictionary holds only ``name``, ``piece length``, ``pieces`` and ``length`` or
``files``, so a shard's info hash depends on nothing but its content layout: an unchanged
shard keeps its info hash (and its swarm) across builds and base URLs. No BEP 47 padding
files: WebTorrent would treat them as real files.
"""

from __future__ import annotations

import hashlib

from planktos import __version__, bencode
from planktos.shards import Shard
from planktos.urls import seed_path


def _string(data: bytes) -> bytes:
    return b"%d:%s" % (len(data), data)


def info_bytes(shard: Shard, pieces: bytes) -> bytes:
    """The bencoded info dictionary of ``shard``: single-file when it holds one file.

    Written directly, keys in bencode's sorted order, because a site's torrents can list
    100,000 files and the generic encoder would dominate a rebuild.
    """
    parts = [b"d"]
    if shard.single_file:
        parts.append(b"6:lengthi%de" % shard.files[0].size)
    else:
        parts.append(b"5:filesl")
        for f in shard.files:
            path = b"".join(_string(s.encode()) for s in seed_path(f.rel).split("/"))
            parts.append(b"d6:lengthi%de4:pathl%see" % (f.size, path))
        parts.append(b"e")
    parts += [
        b"4:name",
        _string(shard.key.encode()),
        b"12:piece lengthi%de" % shard.piece_length,
        b"6:pieces",
        _string(pieces),
        b"e",
    ]
    return b"".join(parts)


def info_hash(info: bytes) -> str:
    """Hex SHA-1 of the bencoded info dictionary (the v1 info hash)."""
    return hashlib.sha1(info).hexdigest()


def metainfo(info: bytes, trackers: list[str], web_seeds: list[str]) -> bytes:
    """Bencode a whole .torrent file. No creation date, so rebuilds give identical bytes."""
    meta: dict[bytes | str, bencode.Bencodable] = {
        "info": bencode.Raw(info),
        "created by": f"planktos {__version__}",
    }
    if trackers:
        meta["announce"] = trackers[0]
        meta["announce-list"] = [[t] for t in trackers]
    if web_seeds:
        meta["url-list"] = list(web_seeds)
    return bencode.encode(meta)
