"""A malicious peer, for real: libtorrent seeds the video's shard to a Chromium visitor over
WebRTC through the site's tracker, and one piece of its copy is flipped on disk after libtorrent
checked it, so it uploads that piece wrong (FACTS.md, "Network shaping and real peers").

WebTorrent alone resets a piece that fails its SHA-1 and asks the same peer again, in a loop.
The agent drops that peer at its first bad piece and refuses it from then on, the service
worker takes the piece from the origin at once, and only verified bytes count as from peers
(js/agent/guard.js).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import libtorrent as lt
import pytest

from tests.browser.browsers import Visitors
from tests.browser.libtorrent_peer import LibtorrentPeer, corrupt_piece, until_in_swarm
from tests.browser.origin import Origin
from tests.browser.probes import (
    AGENT,
    agent_counters,
    arrive,
    fetch_seen,
    sha256,
    sw_stats,
    until,
    until_held,
)
from tests.browser.sites import VIDEO, Built, site_files

pytestmark = pytest.mark.p2p

FILES = site_files()
BLOCK = 16 * 1024
BAD = 5  # the piece libtorrent serves wrong


@pytest.fixture
def libtorrent_peer() -> Iterator[LibtorrentPeer]:
    peer = LibtorrentPeer()
    yield peer
    peer.close()


async def test_peer_sending_a_bad_piece_is_dropped_at_once_and_never_asked_again(
    visitors: Visitors,
    origin: Origin,
    built: Built,
    tmp_path: Path,
    libtorrent_peer: LibtorrentPeer,
) -> None:
    shard = built.shard(VIDEO)
    pl, infohash = shard["piece_length"], shard["infohash"]
    tracker = origin.url.replace("http://", "ws://") + "planktos/tracker"
    handle = libtorrent_peer.seed_copy(built, VIDEO, tmp_path / "lt", tracker)
    await libtorrent_peer.until_seeding(handle)
    corrupt_piece(tmp_path / "lt" / handle.torrent_file().name(), pl, BAD)
    await until_in_swarm(origin, infohash, 1)

    page = await arrive(await visitors.new("V"), origin.url)
    url = origin.url + VIDEO
    # The first piece from the origin: the agent joins the video's swarm and meets libtorrent,
    # which holds every piece.
    head = await fetch_seen(page, url, headers={"Range": f"bytes=0-{pl - 1}"})
    assert (head.status, head.sha256) == (206, sha256(FILES[VIDEO][:pl]))
    await until_held(page, built, [VIDEO])

    # Pieces BAD-1..BAD+1: the first from libtorrent, the bad one fails its SHA-1 there.
    start, end = (BAD - 1) * pl, (BAD + 2) * pl - 1
    seen = await fetch_seen(page, url, headers={"Range": f"bytes={start}-{end}"})
    assert (seen.status, seen.sha256) == (206, sha256(FILES[VIDEO][start : end + 1]))
    agent = await agent_counters(page, origin.url)
    assert agent["piecesRejected"] == 1 and agent["peersDropped"] == 1, agent
    # Asked once: WebTorrent alone asked the same peer for the same piece again and again.
    libtorrent_peer.poll()
    assert libtorrent_peer.uploaded_blocks[BAD] <= pl // BLOCK, libtorrent_peer.uploaded_blocks
    # Only verified bytes count as from peers; the bad piece's count apart.
    worker = await sw_stats(page)
    assert agent["bytesRejected"] == pl, agent
    assert agent["bytesFromPeers"] == worker["bytes"]["peer"] > 0, (agent, worker["bytes"])

    # libtorrent announces again and offers itself: refused, never connected again.
    handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
    await until(
        page, "async (url) => (await import(url)).counters.peersRefused > 0", origin.url + AGENT
    )
    later = 20 * pl, 22 * pl - 1
    uploaded = sum(libtorrent_peer.uploaded_blocks.values())
    again = await fetch_seen(page, url, headers={"Range": f"bytes={later[0]}-{later[1]}"})
    assert again.sha256 == sha256(FILES[VIDEO][later[0] : later[1] + 1])
    assert again.headers["x-planktos-source"] == "origin"
    libtorrent_peer.poll()
    assert sum(libtorrent_peer.uploaded_blocks.values()) == uploaded
    assert libtorrent_peer.connected(handle) == 0
