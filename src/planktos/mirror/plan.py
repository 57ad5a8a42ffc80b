"""Which shards the mirror holds: pure, so that following rebuilds is tested without a network.

After a rebuild, a shard the new build no longer names is kept for a grace period (visitors
still on the previous build read from it), then removed. Under a disk cap, shards of the
current build are taken in order until the next would not fit; retiring shards make room
first, the one due soonest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planktos.mirror.site import ShardInfo


@dataclass
class Plan:
    """What to do now: shards to add, keep, retire (until when), remove, and skip (no room)."""

    add: list[ShardInfo] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)  # info hashes of current shards held
    retiring: dict[str, float] = field(default_factory=dict)  # info hash -> removal time
    remove: list[str] = field(default_factory=list)
    skipped: list[ShardInfo] = field(default_factory=list)


def plan(
    wanted: dict[str, ShardInfo],
    held: dict[str, ShardInfo],
    retiring: dict[str, float],
    now: float,
    grace_s: float,
    cap: int | None = None,
) -> Plan:
    """The next step from ``held`` (shards in the session, by info hash; ``retiring`` says
    until when each retiring one stays) towards ``wanted`` (the current build's shards)."""
    out = Plan()
    for infohash in sorted(set(held) - set(wanted)):
        until = retiring.get(infohash, now + grace_s)
        if until <= now:
            out.remove.append(infohash)
        else:
            out.retiring[infohash] = until
    used = sum(held[ih].length for ih in out.retiring)
    # Shards already held first (they cost nothing to keep), then new ones; each in key order.
    order = sorted(wanted.values(), key=lambda s: (s.infohash not in held, s.key))
    for shard in order:
        if cap is not None and used + shard.length > cap:
            for infohash in sorted(out.retiring, key=lambda ih: out.retiring[ih]):
                if used + shard.length <= cap:
                    break
                del out.retiring[infohash]
                out.remove.append(infohash)
                used -= held[infohash].length
        if cap is not None and used + shard.length > cap:
            out.skipped.append(shard)
            if shard.infohash in held:
                out.remove.append(shard.infohash)  # the cap was lowered since it came
            continue
        used += shard.length
        if shard.infohash in held:
            out.keep.append(shard.infohash)
        else:
            out.add.append(shard)
    return out
