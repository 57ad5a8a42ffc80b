"""What both tracker adapters share: open sockets in, :class:`TrackerCore` deliveries out.

The aiohttp adapter (:mod:`.server`, mounted by ``planktos serve``) and the Sans-IO one
(:mod:`.standalone`, ``planktos tracker``) differ only in how bytes reach a socket. Both
register each open WebSocket here as a :class:`Socket`; :class:`TrackerHub` hands its text
messages to the core and sends the deliveries the core returns, locally or through the
cluster.

Sending never waits for a recipient: :meth:`TrackerHub.send` queues a text frame, or drops
it when the socket is closing or its transport already buffers more than
``MAX_BUFFERED_BYTES`` (a peer that is not reading; the idle check or its own handler will
close it). A slow reader so costs the sender nothing and the tracker a bounded buffer. The
frames queued for one socket during one turn of the event loop are written together at its
end (:meth:`TrackerHub.flush`): one system call per socket and turn instead of one per
frame, which was the largest single cost per message.

With a ``cluster`` (``--redis``, :mod:`.redis_cluster`), the core runs over the cluster's
store, a delivery for a peer whose socket another process holds goes to ``cluster.relay``,
and the cluster sends what other processes relay here (already encoded) through
:meth:`TrackerHub.send_encoded`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
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

ERROR_LOG_INTERVAL_S = 60.0
"""A bug of ours met by every message must not flood the log: one traceback per interval."""

log = logging.getLogger(__name__)


class Socket(Protocol):
    """One open WebSocket, as the hub sees it."""

    @property
    def transport(self) -> asyncio.WriteTransport | None:
        """Where its bytes go; None if the connection has none (any more)."""
        ...

    def is_open(self) -> bool:
        """Whether data frames may still be sent (no close frame sent yet)."""
        ...

    async def shut_down(self) -> None:
        """Close with 1001 "going away" and return once closed (or after a timeout)."""
        ...


def _header(length: int) -> bytes:
    """The header of an unmasked, unfragmented text frame (RFC 6455 §5.2), as a server sends
    it, for a payload of ``length`` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return bytes((0x81, 126)) + length.to_bytes(2, "big")
    return bytes((0x81, 127)) + length.to_bytes(8, "big")


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
        self._queued: dict[Socket, list[bytes]] = {}
        self._ids = itertools.count(1)
        self._cluster = cluster
        self._errors_logged_at = -ERROR_LOG_INTERVAL_S
        self._errors_unlogged = 0
        if cluster is not None:
            cluster.bind(self.send_encoded)

    def open(self, socket: Socket, address: str = "") -> ConnectionId:
        """Register a socket whose WebSocket handshake completed, from the network address
        ``address`` if known; returns its id."""
        connection = next(self._ids)
        self.sockets[connection] = socket
        self.core.connected(connection, address)
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
            self._log_internal_error(connection)
            error = TrackerProtocolError("tracker", "internal error while handling the message")
            deliveries = [self.core.reject(connection, error)]
        self._deliver(deliveries)

    def _log_internal_error(self, connection: ConnectionId) -> None:
        """Log the current exception, at most once per ``ERROR_LOG_INTERVAL_S``."""
        now = time.monotonic()
        if now - self._errors_logged_at < ERROR_LOG_INTERVAL_S:
            self._errors_unlogged += 1
            return
        log.exception(
            "tracker failed on a message of connection %d (%d more failures since the last "
            "report, not logged)",
            connection,
            self._errors_unlogged,
        )
        self._errors_logged_at = now
        self._errors_unlogged = 0

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
                self.send(socket, encode_message_utf8(delivery.message))
            elif self._cluster is not None:
                self._cluster.relay(delivery)
            # else: gone since the core chose it; closed() removes it from its swarms

    async def send_encoded(self, connection: ConnectionId, payload: bytes) -> None:
        """Send an already encoded message to a local socket, if any (for the cluster)."""
        socket = self.sockets.get(connection)
        if socket is not None:
            self.send(socket, payload)

    def send(self, socket: Socket, payload: bytes) -> None:
        """Queue ``payload`` (UTF-8 JSON) as a text frame for the end of this loop turn, or
        drop it if the socket is not reading (:meth:`flush` skips closed sockets)."""
        transport = socket.transport
        if transport is None or transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            return
        queued = self._queued
        frames = queued.get(socket)
        if frames is None:
            if not queued:
                asyncio.get_running_loop().call_soon(self.flush)
            queued[socket] = [_header(len(payload)), payload]
        else:
            frames += (_header(len(payload)), payload)

    def flush(self) -> None:
        """Write every socket's queued frames, one write per socket."""
        queued, self._queued = self._queued, {}
        for socket, frames in queued.items():
            self._write(socket, frames)

    def flush_socket(self, socket: Socket) -> None:
        """Write one socket's queued frames now: before a control frame of its own."""
        frames = self._queued.pop(socket, None)
        if frames is not None:
            self._write(socket, frames)

    @staticmethod
    def _write(socket: Socket, frames: list[bytes]) -> None:
        transport = socket.transport
        if transport is not None and socket.is_open() and not transport.is_closing():
            transport.write(b"".join(frames))

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
        self.flush()
        sockets = list(self.sockets.values())
        await asyncio.gather(*(socket.shut_down() for socket in sockets), return_exceptions=True)
        if self._cluster is not None:
            await self._cluster.close()
