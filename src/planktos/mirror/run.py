"""``planktos mirror URL``: follow a Planktos site and seed its shards to its visitors.

The loop: poll the manifest (conditional GET) every ``poll_s``; plan which shards to hold
(:mod:`planktos.mirror.plan`); add new ones to the libtorrent session, retire those the site
dropped, remove them after the grace period; show the status. SIGINT or SIGTERM (which the
CLI turns into KeyboardInterrupt) stop it cleanly: libtorrent announces ``stopped``, and the
state (what is held, what retires when) is kept in ``--dir`` for the next run.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from planktos.mirror.display import Display, Status
from planktos.mirror.plan import plan
from planktos.mirror.site import USER_AGENT, MirrorError, ShardInfo, Site, Snapshot
from planktos.mirror.swarm import ShardStatus, Swarm, load_libtorrent

STATE = "state.json"
RETRY_S = 30.0  # a shard whose torrent could not be fetched is tried again after this long


@dataclass
class MirrorOptions:
    """Everything ``planktos mirror`` was asked to do."""

    url: str
    directory: Path
    only: list[str] = field(default_factory=list)
    upload_limit: int = 0  # bytes per second; 0: none
    download_limit: int = 0
    max_disk: int | None = None  # bytes
    poll_s: float = 60.0
    grace_s: float = 3600.0
    as_json: bool = False
    interactive: bool = False
    listen: str = "0.0.0.0:0,[::]:0"


def probe_tracker(url: str) -> str | None:
    """None when ``url`` accepts a WebSocket, else what went wrong (for a one-line error)."""
    from websockets.exceptions import InvalidStatus, WebSocketException
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=5, user_agent_header=USER_AGENT, close_timeout=1):
            return None
    except InvalidStatus as err:
        return f"answered HTTP {err.response.status_code}, not a WebSocket upgrade"
    except (OSError, TimeoutError, WebSocketException) as err:
        return str(err) or type(err).__name__


def check_trackers(snapshot: Snapshot) -> list[str]:
    """Warnings for unreachable trackers; MirrorError when none can be reached."""
    if not snapshot.trackers:
        raise MirrorError(
            "trackers", "the site's manifest names no WebSocket tracker a mirror can announce to"
        )
    problems = [(url, probe_tracker(url)) for url in snapshot.trackers]
    down = [(url, why) for url, why in problems if why is not None]
    if len(down) == len(problems):
        url, why = down[0]
        raise MirrorError(
            url, f"cannot reach the site's tracker ({why}); browsers find the mirror through it"
        )
    return [f"warning: {url}: cannot reach this tracker ({why})" for url, why in down]


def claim(directory: Path, base: str) -> dict[str, Any]:
    """The state kept in ``directory`` (created if needed), checked to be this site's."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / STATE
        state = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError) as err:
        raise MirrorError(directory, f"cannot use this --dir ({err})") from None
    if not isinstance(state, dict):
        raise MirrorError(directory / STATE, "not a planktos mirror state file")
    if state.get("site", base) != base:
        raise MirrorError(
            directory, f"holds a mirror of {state['site']}; give another --dir for {base}"
        )
    return state


class Mirror:
    """One running mirror: the site, the libtorrent session and what it holds."""

    def __init__(self, opts: MirrorOptions) -> None:
        self.opts = opts
        self.site = Site(opts.url)  # tables are cached in --dir once it is claimed
        self.held: dict[str, ShardInfo] = {}
        self.retiring: dict[str, float] = {}
        self.skipped: dict[str, ShardInfo] = {}
        self.failed: dict[str, tuple[float, ShardInfo, str]] = {}  # ih -> (retry at, shard, why)
        self.states: dict[str, str] = {}
        self.manifest_note = ""
        self.snapshot: Snapshot | None = None
        self.swarm: Swarm | None = None
        self.display: Display | None = None

    def start(self) -> list[str]:
        """Read the site (one-line errors when it is not a Planktos site or unreachable),
        open the session and take back what the last run held; returns warnings."""
        load_libtorrent()  # a missing extra is said before anything is fetched
        top = self.site.poll()
        assert top is not None  # the first poll is unconditional
        snapshot = self.site.snapshot(top, self.opts.only)
        if snapshot.uninstalled:
            raise MirrorError(self.site.url, "the site uninstalled Planktos; nothing to mirror")
        if self.opts.only and not snapshot.shards:
            raise MirrorError(
                "--only " + " ".join(self.opts.only),
                "no file of the site lies there; give paths relative to the site, e.g. images/",
            )
        warnings = check_trackers(snapshot)
        state = claim(self.opts.directory, self.site.base)
        self.site.use_cache(self.opts.directory / "tables")
        self.snapshot = snapshot
        self.swarm = Swarm(
            self.opts.directory,
            upload_limit=self.opts.upload_limit,
            download_limit=self.opts.download_limit,
            stun=snapshot.stun,
            listen=self.opts.listen,
        )
        now = time.time()
        for infohash, raw in dict(state.get("shards", {})).items():
            torrent = self.torrent_file(infohash)
            if not torrent.is_file():
                continue
            info = ShardInfo(**{**raw, "wanted": _wanted(raw.get("wanted"))})
            if infohash not in snapshot.shards:
                self.retiring[infohash] = float(state.get("retiring", {}).get(infohash, now))
            self.swarm.add(info, torrent.read_bytes(), snapshot.trackers)
            self.held[infohash] = info
        self.save()
        return warnings

    def torrent_file(self, infohash: str) -> Path:
        return self.opts.directory / "torrents" / f"{infohash}.torrent"

    def poll(self) -> None:
        """Look for a new build; a site that is down or broken now is noted, not fatal."""
        try:
            top = self.site.poll()
            if top is not None:
                snapshot = self.site.snapshot(top, self.opts.only)
                if self.snapshot is not None and snapshot.build != self.snapshot.build:
                    self.event(f"new build {snapshot.build}: {len(snapshot.shards)} shards")
                if self.snapshot is not None and snapshot.trackers != self.snapshot.trackers:
                    assert self.swarm is not None
                    self.swarm.retrack(snapshot.trackers)
                    self.event("trackers: " + " ".join(snapshot.trackers))
                self.snapshot = snapshot
                self.failed.clear()
            self.manifest_note = ""
        except MirrorError as err:
            if str(err) != self.manifest_note:
                self.event(f"manifest: {err}; keeping what is held")
            self.manifest_note = str(err)

    def step(self, now: float) -> None:
        """Add, retire and remove shards as the current build and the clock say."""
        assert self.snapshot is not None and self.swarm is not None
        wanted = {
            ih: s
            for ih, s in self.snapshot.shards.items()
            if ih not in self.failed or self.failed[ih][0] <= now
        }
        step = plan(wanted, self.held, self.retiring, now, self.opts.grace_s, self.opts.max_disk)
        for infohash in step.remove:
            self.swarm.remove(infohash)
            self.torrent_file(infohash).unlink(missing_ok=True)
            gone = self.held.pop(infohash)
            self.states.pop(infohash, None)
            self.event(f"{gone.key}: removed")
        for infohash in step.retiring.keys() - self.retiring.keys():
            self.event(f"{self.held[infohash].key}: retiring, removed in {self.opts.grace_s:g} s")
        for infohash in self.retiring.keys() - step.retiring.keys() - set(step.remove):
            self.event(f"{self.held[infohash].key}: in the current build again")
        changed = bool(step.add or step.remove) or step.retiring != self.retiring
        self.retiring = step.retiring
        self.skipped = {s.infohash: s for s in step.skipped}
        for shard in step.add:
            self.failed.pop(shard.infohash, None)
            try:
                self.add(shard)
            except MirrorError as err:
                self.failed[shard.infohash] = (now + RETRY_S, shard, str(err))
                self.event(f"{shard.key}: {err}")
        if changed:
            self.save()

    def add(self, shard: ShardInfo) -> None:
        assert self.swarm is not None and self.snapshot is not None
        path = self.torrent_file(shard.infohash)
        torrent = path.read_bytes() if path.is_file() else self.site.torrent(shard)
        self.swarm.add(shard, torrent, self.snapshot.trackers)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(torrent)
        self.held[shard.infohash] = shard
        self.event(f"{shard.key}: added ({shard.length} bytes)")

    def save(self) -> None:
        """Keep what is held and when retiring shards go, for the next run."""
        state = {
            "site": self.site.base,
            "shards": {
                ih: {**asdict(s), "wanted": sorted(s.wanted) if s.wanted is not None else None}
                for ih, s in self.held.items()
            },
            "retiring": self.retiring,
        }
        path = self.opts.directory / STATE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        tmp.replace(path)

    def status(self) -> Status:
        assert self.swarm is not None and self.snapshot is not None
        rows: list[ShardStatus] = []
        for infohash in self.held:
            row = self.swarm.status(infohash)
            if row is None:
                continue
            if self.states.get(infohash) != row.state:
                if row.state == "seeding":
                    self.event(f"{row.key}: complete, seeding")
                self.states[infohash] = row.state
            rows.append(row)
        for infohash, (_, shard, why) in self.failed.items():
            rows.append(ShardStatus(shard.key, infohash, "error", 0, 0, 0, 0, 0, 0, 0, why))
        for infohash, shard in self.skipped.items():
            note = "over the disk cap (--max-disk)"
            rows.append(ShardStatus(shard.key, infohash, "skipped", 0, 0, 0, 0, 0, 0, 0, note))
        rows.sort(key=lambda r: (r.infohash in self.retiring, r.key))
        return Status(
            self.site.base,
            self.snapshot.build,
            self.snapshot.trackers,
            rows,
            self.manifest_note,
            dict(self.retiring),
        )

    def event(self, line: str) -> None:
        if self.display:
            self.display.event(line)

    def run(self) -> None:
        """Follow the site until interrupted (KeyboardInterrupt)."""
        assert self.swarm is not None
        self.display = Display(as_json=self.opts.as_json, interactive=self.opts.interactive)
        status: Status | None = None
        next_poll = time.monotonic() + self.opts.poll_s
        try:
            while True:
                if time.monotonic() >= next_poll:
                    self.poll()
                    next_poll = time.monotonic() + self.opts.poll_s
                self.step(time.time())
                for line in self.swarm.read_alerts(250):
                    if not self.opts.interactive:
                        self.event(line)
                status = self.status()
                self.display.update(status)
        except KeyboardInterrupt:
            pass
        finally:
            self.display.close(status)
            self.save()
            self.swarm.close()


def _wanted(value: object) -> frozenset[int] | None:
    return frozenset(int(i) for i in value) if isinstance(value, list) else None


def mirror(opts: MirrorOptions) -> int:
    """Run ``planktos mirror``; returns the exit status (0 after a clean stop)."""
    node = Mirror(opts)
    for warning in node.start():
        print(f"planktos mirror: {warning}", file=sys.stderr)
    print(
        f"planktos mirror: following {node.site.base} in {opts.directory} "
        f"({len(node.snapshot.shards) if node.snapshot else 0} shards; Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    node.run()
    print(
        f"planktos mirror: stopped; {len(node.held)} shards kept in {opts.directory}",
        file=sys.stderr,
    )
    return 0
