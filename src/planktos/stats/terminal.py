"""``planktos stats``: the aggregates that ``planktos serve`` kept, as a table or JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from planktos.errors import InputError
from planktos.stats.buckets import HOUR, total
from planktos.stats.db import StatsDb, default_db_path
from planktos.stats.summary import DAY, bucket_dict

PERIODS = {"last hour": HOUR, "last 24 h": DAY, "last 7 days": 7 * DAY, "last 30 days": 30 * DAY}


def human_bytes(n: int) -> str:
    """Decimal units, as disks and bills count: 1.5 MB, 12.3 GB."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError(n)


def percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.0%}"


def collect(db: StatsDb, now: int) -> dict[str, Any]:
    """The totals of each period ending at ``now``, and of everything kept."""
    stored = db.buckets(now - max(PERIODS.values()))
    everything, first = db.totals()
    periods = {
        name: bucket_dict(total((b for b in stored if b.start + b.width > now - span), now - span))
        for name, span in PERIODS.items()
    }
    periods["all"] = bucket_dict(everything)
    return {"db": str(db.path), "now": now, "since": first, "periods": periods}


def render(data: dict[str, Any], console: Console) -> None:
    """The periods as one table, and a line on swarms and peers."""
    table = Table(title=f"Planktos offload: {data['db']}", title_justify="left")
    table.add_column("period")
    for name in ("offload", "from peers", "from store", "from origin"):
        table.add_column(name, justify="right")
    for name in ("uploaded", "server sent", "rejected", "reports"):
        table.add_column(name, justify="right")
    for name, p in data["periods"].items():
        table.add_row(
            name,
            percent(p["offload"]),
            human_bytes(p["peers"]),
            human_bytes(p["store"]),
            human_bytes(p["origin"]),
            human_bytes(p["uploaded"]),
            human_bytes(p["server_bytes"]),
            str(p["rejected"]),
            str(p["reports"]),
        )
    console.print(table)
    day = data["periods"]["last 24 h"]
    console.print(
        f"Peak online in the last 24 h: {day['swarms']} swarms, {day['peers_online']} peers."
        " Offload: share of visitors' bytes from peers and their own store."
    )
    if data["since"] is None:
        console.print("No data yet: planktos serve writes here as visitors report.")
    else:
        console.print(
            f"Kept since {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(data['since']))}."
        )


def show_stats(*, site: Path | None, stats_db: Path | None, as_json: bool) -> int:
    """Print the aggregates of the database ``stats_db`` (or the default one of ``site``)."""
    if site is not None and stats_db is not None:
        raise InputError("SITE", "cannot be combined with --stats-db; give one")
    if stats_db is None:
        if site is None:
            raise InputError("planktos stats", "give the served SITE or --stats-db PATH")
        if not site.is_dir():
            raise InputError(site, "is not a directory; give the served site's root")
        stats_db = default_db_path(site, None)
    db = StatsDb(stats_db, create=False, readonly=True)
    try:
        data = collect(db, int(time.time()))
    finally:
        db.close()
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        render(data, Console(highlight=False))
    return 0
