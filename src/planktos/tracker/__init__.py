"""WebSocket tracker for WebTorrent: browsers of one swarm find each other through it.

:mod:`.protocol` parses and builds messages, :mod:`.swarm` holds the swarms and decides who
gets what (both without I/O). :mod:`.hub` is what the two adapters share: :mod:`.server`
(aiohttp, mounted by ``planktos serve``) and :mod:`.standalone` (``planktos tracker``:
websockets' Sans-IO protocol on bare asyncio). With ``--redis``, several
processes share their swarms: :mod:`.cluster` mirrors the other processes' peers (no I/O),
:mod:`.redis_cluster` keeps the mirror current and relays offers and answers through Redis
(imported only then).
"""

from planktos.tracker.protocol import TrackerLimits, TrackerProtocolError
from planktos.tracker.server import TrackerService
from planktos.tracker.standalone import TrackerServer

__all__ = ["TrackerLimits", "TrackerProtocolError", "TrackerServer", "TrackerService"]
