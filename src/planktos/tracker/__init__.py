"""WebSocket tracker for WebTorrent: browsers of one swarm find each other through it.

:mod:`.protocol` parses and builds messages, :mod:`.swarm` holds the swarms and decides who
gets what (both without I/O), :mod:`.server` is the aiohttp adapter.
"""

from planktos.tracker.protocol import TrackerLimits, TrackerProtocolError
from planktos.tracker.server import TrackerService, create_tracker_app

__all__ = ["TrackerLimits", "TrackerProtocolError", "TrackerService", "create_tracker_app"]
