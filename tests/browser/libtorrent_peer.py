"""A libtorrent peer in a test's swarm: libtorrent 2.1 (PyPI) speaks WebTorrent (WebRTC through
a WebSocket tracker), so it meets Chromium visitors through the tracker of ``planktos serve``
(FACTS.md, "Network shaping and real peers").

It seeds a copy of a shard's files, checked by libtorrent when added; bytes changed on disk
after that check are uploaded unchecked, which makes it the realistic malicious peer: a
client whose data went bad, or was made bad, and who serves it anyway.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import libtorrent as lt

from tests.browser.origin import Origin
from tests.browser.sites import Built


class LibtorrentPeer:
    """One libtorrent session on loopback; alerts are read by :meth:`poll`."""

    def __init__(self) -> None:
        self.session = lt.session(
            {
                "listen_interfaces": "127.0.0.1:0",
                "enable_dht": False,
                "enable_lsd": False,
                "enable_upnp": False,
                "enable_natpmp": False,
                "webtorrent_stun_server": "",  # none (the default is a public host)
                "alert_mask": lt.alert_category.upload,
            }
        )
        self.uploaded_blocks: Counter[int] = Counter()  # piece index -> blocks uploaded

    def seed_copy(self, built: Built, key: str, into: Path, tracker: str) -> Any:
        """Seed a copy (under ``into``) of the single-file shard of ``key``; returns its handle."""
        shard = built.shard(key)
        info = lt.torrent_info(str(built.root / shard["torrent"]))
        assert info.num_files() == 1, "a single-file shard"
        target = into / info.name()  # a single-file torrent: its file is its name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built.root / key, target)
        params = lt.add_torrent_params()
        params.ti = info
        params.save_path = str(into)
        params.trackers = [tracker]
        params.url_seeds = []
        return self.session.add_torrent(params)

    def seed_shard(self, built: Built, shard_id: str, tracker: str) -> Any:
        """Seed the shard ``shard_id`` from the site's own bytes; returns its handle. A group
        shard is seeded from its web seed tree (``planktos/w/<infohash>/<shard id>/...``, links
        to the site's files: a seed only reads them), a single-file shard from a copy."""
        shard = built.manifest["shards"][shard_id]
        info = lt.torrent_info(str(built.root / shard["torrent"]))
        if info.num_files() == 1:
            key = next(k for k, e in built.manifest["files"].items() if e.get("shard") == shard_id)
            return self.seed_copy(built, unquote(key), built.root.parent / "lt", tracker)
        params = lt.add_torrent_params()
        params.ti = info
        params.save_path = str(built.root / unquote(shard["webseed"]))
        params.trackers = [tracker]
        params.url_seeds = []
        return self.session.add_torrent(params)

    def poll(self) -> None:
        for alert in self.session.pop_alerts():
            if isinstance(alert, lt.block_uploaded_alert):
                self.uploaded_blocks[int(alert.piece_index)] += 1

    async def until_seeding(self, handle: Any, timeout: float = 20) -> None:
        """Wait until libtorrent has checked every piece and seeds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not handle.status().is_seeding:
            assert asyncio.get_running_loop().time() < deadline, handle.status().state
            await asyncio.sleep(0.05)

    def connected(self, handle: Any) -> int:
        """Peers libtorrent is connected to in this torrent now."""
        return len(handle.get_peer_info())

    def close(self) -> None:
        for handle in self.session.get_torrents():
            self.session.remove_torrent(handle)


async def until_in_swarm(origin: Origin, infohash: str, count: int, timeout: float = 20) -> None:
    """Wait until the tracker counts ``count`` peers in the swarm of ``infohash``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        tracker = origin.stats()["tracker"]
        assert isinstance(tracker, dict)
        if tracker["peers_per_swarm"].get(infohash, 0) == count:
            return
        assert asyncio.get_running_loop().time() < deadline, tracker
        await asyncio.sleep(0.1)


def corrupt_piece(path: Path, piece_length: int, index: int) -> None:
    """Flip every byte of piece ``index`` of a single-file torrent's file, in place (same
    inode, so libtorrent reads the new bytes)."""
    with path.open("r+b") as f:
        f.seek(index * piece_length)
        data = f.read(piece_length)
        f.seek(index * piece_length)
        f.write(bytes(b ^ 0xFF for b in data))
