"""What ``planktos mirror`` shows: on a terminal a live table (rich) with a status line per
shard; elsewhere one line per event; with ``--json`` one JSON object per second (JSON Lines)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from planktos.mirror.swarm import ShardStatus


@dataclass
class Status:
    """The mirror as a whole at one moment."""

    site: str
    build: str
    trackers: list[str]
    shards: list[ShardStatus]
    manifest_note: str = ""  # the latest problem polling the manifest, if any
    retiring: dict[str, float] = field(default_factory=dict)  # info hash -> removal time

    def json(self) -> dict[str, Any]:
        rows = [s.json() for s in self.shards]
        for row in rows:
            if row["infohash"] in self.retiring:
                row["remove_at"] = round(self.retiring[row["infohash"]], 3)
        return {
            "time": round(time.time(), 3),
            "site": self.site,
            "build": self.build,
            "trackers": self.trackers,
            "manifest_note": self.manifest_note,
            "shards": rows,
            "totals": {
                "shards": len(rows),
                "seeding": sum(1 for s in self.shards if s.state == "seeding"),
                "size": sum(s.size for s in self.shards if s.state != "skipped"),
                "done": sum(s.done for s in self.shards),
                "downloaded": sum(s.downloaded for s in self.shards),
                "uploaded": sum(s.uploaded for s in self.shards),
                "peers": sum(s.peers for s in self.shards),
            },
        }


def size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def table(status: Status) -> Group:
    """The terminal view: a header line and one row per shard."""
    totals = status.json()["totals"]
    head = Text(
        f"mirroring {status.site} (build {status.build}): {totals['seeding']}/{totals['shards']} "
        f"shards seeding, {size(totals['done'])} of {size(totals['size'])}, "
        f"uploaded {size(totals['uploaded'])} to {totals['peers']} peers"
    )
    if status.manifest_note:
        head.append(f"\n{status.manifest_note}", style="yellow")
    grid = Table(box=None, pad_edge=False)
    for name in ("shard", "state", "done", "peers", "down/s", "up/s", "uploaded", "note"):
        grid.add_column(name, no_wrap=name != "note", overflow="fold")
    now = time.time()
    for s in status.shards:
        state = s.state
        if s.infohash in status.retiring:
            state = f"retiring ({max(0, status.retiring[s.infohash] - now):.0f} s)"
        done = f"{100 * s.done / s.size:.0f}%" if s.size else "-"
        grid.add_row(
            s.key,
            state,
            done,
            str(s.peers),
            size(s.download_rate),
            size(s.upload_rate),
            size(s.uploaded),
            s.note,
        )
    return Group(head, grid)


class Display:
    """Shows the mirror's status in the chosen way until closed."""

    def __init__(self, *, as_json: bool, interactive: bool, out: TextIO = sys.stdout) -> None:
        self.as_json = as_json
        self.out = out
        self.live: Live | None = None
        self.last_json = 0.0
        if interactive and not as_json:
            self.live = Live(console=Console(stderr=True), auto_refresh=False, transient=False)
            self.live.start()

    def event(self, line: str) -> None:
        """Something happened (a shard came, completed, retired; a problem): one line."""
        if self.as_json:
            return
        if self.live:
            self.live.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.out, flush=True)

    def update(self, status: Status) -> None:
        if self.live:
            self.live.update(table(status), refresh=True)
        elif self.as_json and time.monotonic() - self.last_json >= 1.0:
            self.last_json = time.monotonic()
            print(json.dumps(status.json()), file=self.out, flush=True)

    def close(self, status: Status | None) -> None:
        if self.as_json and status is not None:
            print(json.dumps(status.json()), file=self.out, flush=True)
        if self.live:
            self.live.stop()
