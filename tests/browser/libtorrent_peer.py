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

import libtorrent as lt

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


def corrupt_piece(path: Path, piece_length: int, index: int) -> None:
    """Flip every byte of piece ``index`` of a single-file torrent's file, in place (same
    inode, so libtorrent reads the new bytes)."""
    with path.open("r+b") as f:
        f.seek(index * piece_length)
        data = f.read(piece_length)
        f.seek(index * piece_length)
        f.write(bytes(b ^ 0xFF for b in data))
