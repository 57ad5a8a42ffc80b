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

Info = dict[bytes | str, bencode.Bencodable]


def info_dict(shard: Shard, pieces: bytes) -> Info:
    """The info dictionary of ``shard``: single-file when it holds one file."""
    info: Info = {"name": shard.key, "piece length": shard.piece_length, "pieces": pieces}
    if shard.single_file:
        info["length"] = shard.files[0].size
    else:
        info["files"] = [
            {"length": f.size, "path": list(seed_path(f.rel).split("/"))} for f in shard.files
        ]
    return info


def info_hash(info: Info) -> str:
    """Hex SHA-1 of the bencoded info dictionary (the v1 info hash)."""
    return hashlib.sha1(bencode.encode(info)).hexdigest()


def metainfo(info: Info, trackers: list[str], web_seeds: list[str]) -> bytes:
    """Bencode a whole .torrent file. No creation date, so rebuilds give identical bytes."""
    meta: dict[bytes | str, bencode.Bencodable] = {
        "info": info,
        "created by": f"planktos {__version__}",
    }
    if trackers:
        meta["announce"] = trackers[0]
        meta["announce-list"] = [[t] for t in trackers]
    if web_seeds:
        meta["url-list"] = list(web_seeds)
    return bencode.encode(meta)
