"""What both tracker adapters share: open sockets in, :class:`TrackerCore` deliveries out.

The aiohttp adapter (:mod:`.server`, mounted by ``planktos serve``) and the Sans-IO one
(:mod:`.standalone`, ``planktos tracker``) differ only in how bytes reach a socket. Both
register each open WebSocket here as a :class:`Socket`; :class:`TrackerHub` hands its text
messages to the core and sends the deliveries the core returns, locally or through the
cluster.

Sending never waits for a recipient: :meth:`Socket.send` writes one complete text frame to
the transport, or drops it when the transport is closing or already buffers more than
``MAX_BUFFERED_BYTES`` (a peer that is not reading; the idle check or its own handler will
close it). A slow reader so costs the sender nothing and the tracker a bounded buffer.

With a ``cluster`` (``--redis``, :mod:`.redis_cluster`), the core runs over the cluster's
store, a delivery for a peer whose socket another process holds goes to ``cluster.relay``,
and the cluster sends what other processes relay here (already encoded) through
:meth:`TrackerHub.send_encoded`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Protocol

from planktos.tracker.cluster import TrackerCluster
from planktos.tracker.protocol import TrackerLimits, TrackerProtocolError, encode_message_utf8
from planktos.tracker.swarm import ConnectionId, Delivery, TrackerCore

MAX_BUFFERED_BYTES = 256 * 1024
"""Messages for a socket whose transport buffers more than this are dropped."""

CLOSE_TIMEOUT_S = 5.0
"""How long a closing handshake may take before the connection is cut."""

GOING_AWAY = 1001

log = logging.getLogger(__name__)


class Socket(Protocol):
    """One open WebSocket, as the hub sees it."""

    def send(self, payload: bytes) -> None:
        """Send ``payload`` (UTF-8 JSON) as a text frame now, or drop it; never wait."""
        ...

    async def shut_down(self) -> None:
        """Close with 1001 "going away" and return once closed (or after a timeout)."""
        ...


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2), as a server sends it."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 1 << 16:
        return bytes((0x81, 126)) + length.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + length.to_bytes(8, "big") + payload


def send_frame(transport: asyncio.WriteTransport, payload: bytes) -> None:
    """Write ``payload`` as a text frame unless the transport is closing or backed up."""
    if transport.is_closing() or transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
        return
    transport.write(text_frame(payload))


_BINARY_REFUSED = TrackerProtocolError(
    "message", "binary frames are not accepted; send JSON as text"
)


class TrackerHub:
    """The core, the open sockets by connection id, and the cluster link if any."""

    def __init__(
        self,
        *,
        is_allowed: Callable[[bytes], bool] | None = None,
        limits: TrackerLimits | None = None,
        cluster: TrackerCluster | None = None,
    ) -> None:
        self.limits = limits or TrackerLimits()
        store = cluster.store if cluster is not None else None
        self.core = TrackerCore(limits=self.limits, is_allowed=is_allowed, store=store)
        self.sockets: dict[ConnectionId, Socket] = {}
        self._ids = itertools.count(1)
        self._cluster = cluster
        if cluster is not None:
            cluster.bind(self.send_encoded)

    def open(self, socket: Socket) -> ConnectionId:
        """Register a socket whose WebSocket handshake completed; returns its id."""
        connection = next(self._ids)
        self.sockets[connection] = socket
        return connection

    def closed(self, connection: ConnectionId) -> None:
        """Forget a socket that closed: its peers leave every swarm."""
        if self.sockets.pop(connection, None) is not None:
            self.core.disconnect(connection)

    def receive(self, connection: ConnectionId, text: str) -> None:
        """Handle one text message and send what it causes."""
        try:
            deliveries = self.core.receive(connection, text)
        except Exception:  # a bug of ours must not cost this client its connection
            log.exception("tracker failed on a message of connection %d", connection)
            error = TrackerProtocolError("tracker", "internal error while handling the message")
            deliveries = [self.core.reject(connection, error)]
        self._deliver(deliveries)

    def refuse_binary(self, connection: ConnectionId) -> None:
        """Answer a binary message with a failure reason; the socket stays open."""
        self._deliver([self.core.reject(connection, _BINARY_REFUSED)])

    def count_failure(self) -> None:
        """Count a message refused by the WebSocket layer (too big, invalid UTF-8)."""
        self.core.counters.failures += 1

    def _deliver(self, deliveries: list[Delivery]) -> None:
        sockets = self.sockets
        for delivery in deliveries:
            socket = sockets.get(delivery.connection)
            if socket is not None:
                socket.send(encode_message_utf8(delivery.message))
            elif self._cluster is not None:
                self._cluster.relay(delivery)
            # else: gone since the core chose it; closed() removes it from its swarms

    async def send_encoded(self, connection: ConnectionId, payload: bytes) -> None:
        """Send an already encoded message to a local socket, if any (for the cluster)."""
        socket = self.sockets.get(connection)
        if socket is not None:
            socket.send(payload)

    def stats(self) -> dict[str, object]:
        """Swarm sizes, totals since start, and the number of open sockets."""
        stats = {**self.core.stats(), "connections": len(self.sockets)}
        if self._cluster is not None:
            stats["cluster"] = self._cluster.stats()
        return stats

    async def start(self) -> None:
        """Join the cluster, if any."""
        if self._cluster is not None:
            await self._cluster.start()

    async def close(self) -> None:
        """Close every socket with 1001, then leave the cluster."""
        sockets = list(self.sockets.values())
        await asyncio.gather(*(socket.shut_down() for socket in sockets), return_exceptions=True)
        if self._cluster is not None:
            await self._cluster.close()
