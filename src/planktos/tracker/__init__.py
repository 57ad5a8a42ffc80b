"""WebSocket tracker for WebTorrent: browsers of one swarm find each other through it.

:mod:`.protocol` parses and builds messages, :mod:`.swarm` holds the swarms and decides who
gets what (both without I/O), :mod:`.server` is the aiohttp adapter. With ``--redis``, several
processes share their swarms: :mod:`.cluster` mirrors the other processes' peers (no I/O),
:mod:`.redis_cluster` keeps the mirror current and relays offers and answers through Redis
(imported only then).
"""

from planktos.tracker.protocol import TrackerLimits, TrackerProtocolError
from planktos.tracker.server import TrackerService, create_tracker_app

__all__ = ["TrackerLimits", "TrackerProtocolError", "TrackerService", "create_tracker_app"]
