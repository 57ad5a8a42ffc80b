"""Time buckets of counts: what reports and the server's own samples add up to. Pure.

A bucket covers ``width`` seconds from ``start`` (Unix time): minutes for recent data, hours
once rolled up. Counts add; gauges (swarms and peers online, sampled from the tracker) keep
their maximum.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

MINUTE = 60
HOUR = 3600

COUNTS = (
    "reports",
    "store",
    "peers",
    "origin",
    "uploaded",
    "rejected",
    "connected_sum",
    "server_bytes",
)
GAUGES = ("swarms", "peers_online")


@dataclass
class Bucket:
    """Sums of one period. ``connected_sum`` / ``reports`` is the mean of peers connected."""

    start: int
    width: int = MINUTE
    reports: int = 0
    store: int = 0
    peers: int = 0
    origin: int = 0
    uploaded: int = 0
    rejected: int = 0
    connected_sum: int = 0
    server_bytes: int = 0
    swarms: int = 0
    peers_online: int = 0

    def add(self, other: Bucket) -> None:
        """Fold ``other`` in: counts add, gauges keep the maximum."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in GAUGES:
            setattr(self, name, max(getattr(self, name), getattr(other, name)))

    def values(self) -> tuple[int, ...]:
        """Every field in declaration order (the database's column order)."""
        return tuple(getattr(self, f.name) for f in fields(self))


COLUMNS = tuple(f.name for f in fields(Bucket))


def minute_of(t: float) -> int:
    """Start of the minute holding Unix time ``t``."""
    return int(t) // MINUTE * MINUTE


def regroup(buckets: Iterable[Bucket], step: int) -> list[Bucket]:
    """Buckets merged into periods of ``step`` seconds, in time order."""
    out: dict[int, Bucket] = {}
    for b in buckets:
        start = b.start // step * step
        into = out.get(start)
        if into is None:
            into = out[start] = Bucket(start, step)
        into.add(b)
    return [out[k] for k in sorted(out)]


def total(buckets: Iterable[Bucket], start: int = 0) -> Bucket:
    """Everything in ``buckets`` as one bucket starting at ``start``."""
    out = Bucket(start, 0)
    for b in buckets:
        out.add(b)
    return out


def offload(b: Bucket) -> float | None:
    """Share of visitors' bytes that did not come from the origin; None without bytes."""
    got = b.store + b.peers + b.origin
    return (b.store + b.peers) / got if got else None


def peer_share(b: Bucket) -> float | None:
    """Share of visitors' bytes that came from other visitors."""
    got = b.store + b.peers + b.origin
    return b.peers / got if got else None
