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

PERIODS = {"last hour": HOUR, "24 h": DAY, "7 days": 7 * DAY, "30 days": 30 * DAY}


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
    """One row per figure, one column per period."""
    periods = data["periods"]
    table = Table(title="Planktos offload", title_justify="left")
    table.add_column("")
    for name in periods:
        table.add_column(name, justify="right", no_wrap=True)
    rows: list[tuple[str, Any]] = [
        ("offload", lambda p: percent(p["offload"])),
        ("from peers", lambda p: human_bytes(p["peers"])),
        ("from store", lambda p: human_bytes(p["store"])),
        ("from origin", lambda p: human_bytes(p["origin"])),
        ("uploaded", lambda p: human_bytes(p["uploaded"])),
        ("server sent", lambda p: human_bytes(p["server_bytes"])),
        ("rejected pieces", lambda p: f"{p['rejected']:,}"),
        ("reports", lambda p: f"{p['reports']:,}"),
        ("peak swarms", lambda p: f"{p['swarms']:,}"),
        ("peak peers online", lambda p: f"{p['peers_online']:,}"),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(p) for p in periods.values()))
    console.print(table)
    console.print(
        "offload: share of visitors' bytes from peers and their own store; "
        "server sent: every body byte planktos serve sent."
    )
    if data["since"] is None:
        console.print(f"No data yet in {data['db']}: planktos serve adds to it as visitors report.")
    else:
        since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(data["since"]))
        console.print(f"Kept since {since} in {data['db']}.")


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
