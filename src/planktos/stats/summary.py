"""The aggregates that ``GET /planktos/stats``, the dashboard and ``planktos stats`` show. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from planktos.stats.buckets import HOUR, MINUTE, Bucket, offload, peer_share, regroup, total

DAY = 24 * HOUR
# range name -> (seconds covered, seconds per point of the series)
RANGES: dict[str, tuple[int, int]] = {
    "1h": (HOUR, MINUTE),
    "6h": (6 * HOUR, 5 * MINUTE),
    "24h": (DAY, 15 * MINUTE),
    "7d": (7 * DAY, HOUR),
    "30d": (30 * DAY, 6 * HOUR),
}
DEFAULT_RANGE = "24h"
RECENT_S = 10 * MINUTE  # "now" on the dashboard: the last ten minutes


def bucket_dict(b: Bucket) -> dict[str, Any]:
    """A bucket as JSON: counts, gauges, the mean peers connected and both ratios."""
    return {
        "t": b.start,
        "reports": b.reports,
        "store": b.store,
        "peers": b.peers,
        "origin": b.origin,
        "uploaded": b.uploaded,
        "rejected": b.rejected,
        "server_bytes": b.server_bytes,
        "connected_avg": round(b.connected_sum / b.reports, 2) if b.reports else None,
        "swarms": b.swarms,
        "peers_online": b.peers_online,
        "offload": offload(b),
        "peer_share": peer_share(b),
    }


def summarize(
    window: Sequence[Bucket], everything: Bucket, first: int | None, now: int, range_name: str
) -> dict[str, Any]:
    """The aggregates of ``range_name`` ending at ``now``: ``window`` holds its buckets."""
    span, step = RANGES[range_name]
    start = (now - span) // step * step + step
    inside = [b for b in window if b.start >= start]
    series = regroup(inside, step)
    points = {b.start: b for b in series}
    filled = [points.get(t, Bucket(t, step)) for t in range(start, now // step * step + 1, step)]
    recent = [b for b in window if b.start + b.width > now - RECENT_S]
    return {
        "range": range_name,
        "step": step,
        "now": now,
        "since": first,
        "totals": bucket_dict(everything),
        "window": bucket_dict(total(inside, start)),
        "recent": bucket_dict(total(recent, now - RECENT_S)),
        "series": [bucket_dict(b) for b in filled],
    }
