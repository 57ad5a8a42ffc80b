"""aiohttp adapter of the WebSocket tracker: sockets in, :class:`TrackerCore` deliveries out.

:class:`TrackerService` is mounted at ``/planktos/tracker`` by ``planktos serve``;
:func:`create_tracker_app` is the standalone ``planktos tracker``. All protocol and swarm
logic lives in :mod:`planktos.tracker.protocol` and :mod:`planktos.tracker.swarm`.

Socket handling, and why:

- A message longer than ``max_message_bytes`` is refused by aiohttp's reader from the frame
  header, before its payload is buffered, and the socket is closed with 1009 "message too
  big" (RFC 6455 §7.4.1); the client reconnects as after any close. Everyone else keeps
  working. A binary frame gets a failure reason and the socket stays open. Invalid UTF-8 in
  a text frame is closed by aiohttp with 1007.
- Idleness: aiohttp pings a socket from which nothing arrived for ``idle_timeout_s / 1.5``
  and closes it if no pong follows within half that, so a vanished browser is gone within
  ``idle_timeout_s`` while a live one, which answers pings by itself, is never cut between
  announces (a per-message receive timeout would cut background tabs, whose timers
  browsers throttle).
- Sending never waits for another peer: aiohttp's writer would await the drain of a slow
  recipient's socket, stalling the sender's handler behind it. We disable that wait
  (``writer_limit``) and instead drop messages for a socket whose send buffer already holds
  more than ``_MAX_BUFFERED_BYTES``; such a peer is not reading, and its heartbeat or its
  own handler will close it. A send to a socket that is closing is skipped the same way.
- No per-message compression (browsers offer permessage-deflate): its zlib state would
  cost far more memory per held connection than everything else here together.

With a ``cluster`` (``--redis``, :mod:`planktos.tracker.redis_cluster`), the core runs over
the cluster's store, a delivery for a peer whose socket another process holds goes to
``cluster.relay``, and the cluster sends what other processes relay here (already encoded)
through ``_send``; the application starts and stops the cluster with itself.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web

from planktos.errors import InputError
from planktos.tracker.cluster import TrackerCluster
from planktos.tracker.protocol import TrackerLimits, TrackerProtocolError, encode_message_utf8
from planktos.tracker.swarm import ConnectionId, Delivery, TrackerCore

__all__ = ["TrackerLimits", "TrackerService", "create_tracker_app"]

EMBEDDED_PATH = "/planktos/tracker"
"""Where ``planktos serve`` mounts the tracker, and where the standalone one also answers."""

_MAX_BUFFERED_BYTES = 256 * 1024
_NEVER_DRAIN = 1 << 62  # aiohttp awaits a drain after this many bytes written: never
_CLOSE_TIMEOUT_S = 5.0
_TEXT = WSMsgType.TEXT

log = logging.getLogger(__name__)


class _Connection:
    """What the adapter keeps per open socket: the socket and its transport."""

    __slots__ = ("transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        self.ws = ws
        self.transport = transport


class TrackerService:
    """A WebSocket tracker for WebTorrent, to mount on an aiohttp route (GET)."""

    def __init__(
        self,
        *,
        is_allowed: Callable[[bytes], bool] | None = None,
        limits: TrackerLimits | None = None,
        cluster: TrackerCluster | None = None,
    ) -> None:
        self.limits = limits or TrackerLimits()
        store = cluster.store if cluster is not None else None
        self._core = TrackerCore(limits=self.limits, is_allowed=is_allowed, store=store)
        self._connections: dict[ConnectionId, _Connection] = {}
        self._ids = itertools.count(1)
        self._cluster = cluster
        if cluster is not None:
            cluster.bind(self._send)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Upgrade a GET to a WebSocket and serve tracker messages until it closes."""
        ws = web.WebSocketResponse(
            max_msg_size=self.limits.max_message_bytes,
            heartbeat=self.limits.idle_timeout_s / 1.5,
            compress=False,
            writer_limit=_NEVER_DRAIN,
            timeout=_CLOSE_TIMEOUT_S,
        )
        if not ws.can_prepare(request).ok:
            return web.Response(
                status=426,
                text="This is a WebTorrent tracker: connect with a WebSocket.\n",
                headers={"Upgrade": "websocket", "Connection": "Upgrade"},
            )
        await ws.prepare(request)
        connection = next(self._ids)
        self._connections[connection] = _Connection(ws, request.transport)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await self._deliver(self._receive(connection, message.data))
                elif message.type is WSMsgType.BINARY:
                    error = TrackerProtocolError(
                        "message", "binary frames are not accepted; send JSON as text"
                    )
                    await self._deliver([self._core.reject(connection, error)])
                elif message.type is WSMsgType.ERROR:
                    # aiohttp has already closed the socket: 1009 for an oversized
                    # message, 1007 for invalid UTF-8, 1002 for a protocol violation.
                    if isinstance(message.data, WebSocketError):
                        self._core.counters.failures += 1
                    break
        finally:
            del self._connections[connection]
            self._core.disconnect(connection)
        return ws

    def stats(self) -> dict[str, object]:
        """Swarm sizes, totals since start, and the number of open sockets."""
        stats = {**self._core.stats(), "connections": len(self._connections)}
        if self._cluster is not None:
            stats["cluster"] = self._cluster.stats()
        return stats

    async def start(self) -> None:
        """Join the cluster, if any (for the application's ``on_startup``)."""
        if self._cluster is not None:
            await self._cluster.start()

    async def close(self) -> None:
        """Close every socket (for the application's ``on_shutdown``)."""
        sockets = [connection.ws for connection in self._connections.values()]
        await asyncio.gather(
            *(
                ws.close(code=WSCloseCode.GOING_AWAY, message=b"tracker shutting down")
                for ws in sockets
            ),
            return_exceptions=True,
        )
        if self._cluster is not None:
            await self._cluster.close()

    def _receive(self, connection: ConnectionId, text: str) -> list[Delivery]:
        try:
            return self._core.receive(connection, text)
        except Exception:  # a bug of ours must not cost this client its connection
            log.exception("tracker failed on a message of connection %d", connection)
            error = TrackerProtocolError("tracker", "internal error while handling the message")
            return [self._core.reject(connection, error)]

    async def _deliver(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            connection = self._connections.get(delivery.connection)
            if connection is None and self._cluster is not None:
                self._cluster.relay(delivery)
                continue
            if connection is None or connection.ws.closed:
                continue  # gone since the core chose it; its handler removes it from swarms
            await self._send_to(connection, encode_message_utf8(delivery.message))

    async def _send(self, connection_id: ConnectionId, data: bytes) -> None:
        """Send an encoded message (a text frame's UTF-8 payload) to a local socket, if any."""
        connection = self._connections.get(connection_id)
        if connection is not None and not connection.ws.closed:
            await self._send_to(connection, data)

    async def _send_to(self, connection: _Connection, data: bytes) -> None:
        transport = connection.transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > _MAX_BUFFERED_BYTES:
            return  # not reading: do not hold more for it
        try:
            await connection.ws.send_frame(data, _TEXT)
        except ConnectionError:
            return  # closed between the check and the write


_SERVICE_KEY = web.AppKey("tracker_service", TrackerService)


async def _stats_page(request: web.Request) -> web.Response:
    return web.json_response(request.app[_SERVICE_KEY].stats())


def create_tracker_app(
    *,
    is_allowed: Callable[[bytes], bool] | None = None,
    limits: TrackerLimits | None = None,
    path: str = "/",
    cluster: TrackerCluster | None = None,
) -> web.Application:
    """The standalone tracker: WebSocket at ``path`` and ``/planktos/tracker``, JSON at /stats."""
    if not path.startswith("/") or path == "/stats":
        raise InputError(path, "tracker path must start with '/' and must not be /stats")
    service = TrackerService(is_allowed=is_allowed, limits=limits, cluster=cluster)
    app = web.Application()
    app[_SERVICE_KEY] = service
    app.router.add_get(path, service.handle)
    if path != EMBEDDED_PATH:
        app.router.add_get(EMBEDDED_PATH, service.handle)
    app.router.add_get("/stats", _stats_page)

    async def start(app: web.Application) -> None:
        await service.start()

    async def close_sockets(app: web.Application) -> None:
        await service.close()

    app.on_startup.append(start)
    app.on_shutdown.append(close_sockets)
    return app


def tracker_service(app: web.Application) -> TrackerService:
    """The service behind an application made by :func:`create_tracker_app`."""
    return app[_SERVICE_KEY]
