"""The mirror's BitTorrent side: one libtorrent session that downloads each shard from its web
seed and its peers, and seeds it to browsers over WebRTC through the site's WebSocket
trackers (libtorrent's PyPI wheel speaks WebTorrent).

libtorrent is an optional extra (``planktos[mirror]``): it is imported here only, by
:func:`load_libtorrent`, when ``planktos mirror`` starts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from planktos.mirror.site import USER_AGENT, MirrorError, ShardInfo


def load_libtorrent() -> ModuleType:
    """The libtorrent module, or a one-line MirrorError saying how to install it."""
    try:
        import libtorrent
    except ImportError:
        raise MirrorError(
            "libtorrent", "not installed; planktos mirror needs it: pip install 'planktos[mirror]'"
        ) from None
    return libtorrent


@dataclass
class ShardStatus:
    """What the display and ``--json`` show of one shard."""

    key: str
    infohash: str
    state: str  # checking, downloading, seeding, retiring, skipped, error
    size: int  # bytes wanted
    done: int  # bytes wanted and verified
    peers: int
    download_rate: int  # bytes per second
    upload_rate: int
    downloaded: int  # bytes, since the mirror started
    uploaded: int
    note: str = ""  # the latest tracker or web seed problem, or why it is skipped

    def json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Swarm:
    """A libtorrent session over ``directory``: shard data in ``shards/<info hash>/``."""

    def __init__(
        self,
        directory: Path,
        *,
        upload_limit: int = 0,
        download_limit: int = 0,
        stun: str = "",
        listen: str = "0.0.0.0:0,[::]:0",
    ) -> None:
        self.lt = load_libtorrent()
        lt = self.lt
        self.directory = directory
        self.handles: dict[str, Any] = {}  # info hash -> torrent_handle
        self.notes: dict[str, str] = {}
        categories = lt.alert.category_t
        self.session = lt.session(
            {
                "user_agent": USER_AGENT,
                "listen_interfaces": listen,
                # The site's trackers only: no DHT, no local discovery, no port mapping.
                "enable_dht": False,
                "enable_lsd": False,
                "enable_upnp": False,
                "enable_natpmp": False,
                "webtorrent_stun_server": stun,
                "upload_rate_limit": upload_limit,
                "download_rate_limit": download_limit,
                "announce_to_all_trackers": True,
                "announce_to_all_tiers": True,
                "alert_mask": categories.error_notification
                | categories.status_notification
                | categories.tracker_notification
                | categories.storage_notification,
            }
        )

    def shard_dir(self, infohash: str) -> Path:
        return self.directory / "shards" / infohash

    def add(self, shard: ShardInfo, torrent: bytes, trackers: list[str]) -> None:
        """Download ``shard`` (its wanted files) from its web seed and peers, then seed it."""
        lt = self.lt
        params = lt.add_torrent_params()
        try:
            params.ti = lt.torrent_info(lt.bdecode(torrent))
        except RuntimeError as err:
            raise MirrorError(
                shard.torrent_url, f"not a torrent libtorrent reads ({err})"
            ) from None
        params.save_path = str(self.shard_dir(shard.infohash))
        params.url_seeds = [shard.web_seed]
        params.trackers = trackers
        # Not auto-managed: libtorrent would queue all but a few seeds (active_seeds).
        params.flags &= ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
        if shard.wanted is not None:
            count = params.ti.num_files()
            params.file_priorities = [4 if i in shard.wanted else 0 for i in range(count)]
        self.handles[shard.infohash] = self.session.add_torrent(params)

    def retrack(self, trackers: list[str]) -> None:
        """Announce every shard to these trackers from now on (a new build changed them)."""
        entries = [self.lt.announce_entry(url) for url in trackers]
        for handle in self.handles.values():
            handle.replace_trackers(entries)
            handle.force_reannounce()

    def remove(self, infohash: str) -> None:
        """Stop seeding a shard and delete its data."""
        handle = self.handles.pop(infohash, None)
        self.notes.pop(infohash, None)
        if handle is not None:
            self.session.remove_torrent(handle, self.lt.session.delete_files)
        shutil.rmtree(self.shard_dir(infohash), ignore_errors=True)

    def read_alerts(self, wait_ms: int) -> list[str]:
        """Problems reported since the last call (waiting up to ``wait_ms`` for one), as lines;
        each shard keeps its latest as a note."""
        lt = self.lt
        self.session.wait_for_alert(wait_ms)
        lines = []
        for alert in self.session.pop_alerts():
            infohash = ""
            handle = getattr(alert, "handle", None)
            if handle is not None and handle.is_valid():
                infohash = str(handle.info_hash())
            if isinstance(alert, lt.tracker_reply_alert) and infohash:
                self.notes.pop(infohash, None)
            elif isinstance(alert, lt.tracker_error_alert | lt.url_seed_alert):
                note = alert.message()
                if self.notes.get(infohash) != note:  # the same problem again: said once
                    lines.append(note)
                if infohash:
                    self.notes[infohash] = note
            elif alert.category() & lt.alert.category_t.error_notification:
                lines.append(alert.message())
        return lines

    def status(self, infohash: str) -> ShardStatus | None:
        handle = self.handles.get(infohash)
        if handle is None:
            return None
        lt = self.lt
        s = handle.status()
        states = lt.torrent_status.states
        if s.errc.value():
            state = "error"
        elif s.state in (states.checking_files, states.checking_resume_data):
            state = "checking"
        elif s.is_seeding or s.is_finished:
            state = "seeding"
        else:
            state = "downloading"
        return ShardStatus(
            key=s.name,
            infohash=infohash,
            state=state,
            size=s.total_wanted,
            done=s.total_wanted_done,
            peers=s.num_peers,
            download_rate=s.download_payload_rate,
            upload_rate=s.upload_payload_rate,
            downloaded=s.total_payload_download,
            uploaded=s.total_payload_upload,
            note=s.errc.message() if s.errc.value() else self.notes.get(infohash, ""),
        )

    def close(self) -> None:
        """Announce ``stopped`` to the trackers (bounded by libtorrent's own timeout)."""
        self.session.pause()
        del self.session
