"""aiohttp adapter of the WebSocket tracker, mounted at ``/planktos/tracker`` by ``planktos serve``.

:class:`TrackerService` upgrades a GET and feeds the socket's messages to a
:class:`~planktos.tracker.hub.TrackerHub`, which holds all that both adapters share
(deliveries, the slow-reader cap, the cluster link, stats, shutdown). The standalone
``planktos tracker`` is :mod:`.standalone`; protocol and swarm logic live in
:mod:`.protocol` and :mod:`.swarm`.

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
- Sending never waits for another peer: frames go straight to the transport
  (:meth:`~planktos.tracker.hub.TrackerHub.send`), bypassing aiohttp's writer, which would
  await the drain of a slow recipient's socket and stall the sender's handler behind it.
- No per-message compression (browsers offer permessage-deflate): its zlib state would
  cost far more memory per held connection than everything else here together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web

from planktos.stats.ratelimit import AddressKeys
from planktos.tracker.cluster import TrackerCluster
from planktos.tracker.hub import CLOSE_TIMEOUT_S, TrackerHub
from planktos.tracker.protocol import TrackerLimits

__all__ = ["UPGRADE_REQUIRED_TEXT", "TrackerService"]

UPGRADE_REQUIRED_TEXT = "This is a WebTorrent tracker: connect with a WebSocket.\n"
"""Body of the 426 answer to a plain GET on the tracker's path."""

_TEXT = WSMsgType.TEXT


class _AiohttpSocket:
    """An aiohttp WebSocket as a :class:`~planktos.tracker.hub.Socket`."""

    __slots__ = ("transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None) -> None:
        self.ws = ws
        self.transport = transport

    def is_open(self) -> bool:
        return not self.ws.closed

    async def shut_down(self) -> None:
        await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"tracker shutting down")


class TrackerService(TrackerHub):
    """A WebSocket tracker for WebTorrent, to mount on an aiohttp route (GET)."""

    def __init__(
        self,
        *,
        is_allowed: Callable[[bytes], bool] | None = None,
        limits: TrackerLimits | None = None,
        cluster: TrackerCluster | None = None,
    ) -> None:
        super().__init__(is_allowed=is_allowed, limits=limits, cluster=cluster)
        self._address_key = AddressKeys()
        self._per_address: dict[str, int] = {}  # open WebSockets per address key
        # The most each address held at once, per minute: this one and the one before.
        self._minute = 0
        self._peaks: dict[str, int] = {}
        self._last_peaks: dict[str, int] = {}

    def connections_from(self, address: str) -> int:
        """The most WebSockets ``address`` (an IPv6 address: its /64) held at once in this
        minute or the one before, for the stats: a visitor's last report arrives as its page
        goes away, when its socket may already be closed."""
        key = self._address_key(address)
        self._turn_minute()
        return max(
            self._per_address.get(key, 0), self._peaks.get(key, 0), self._last_peaks.get(key, 0)
        )

    def _turn_minute(self) -> None:
        minute = int(time.monotonic()) // 60
        if minute != self._minute:
            self._last_peaks = self._peaks if minute == self._minute + 1 else {}
            self._peaks = {}
            self._minute = minute

    def _count_open(self, key: str, change: int) -> None:
        self._turn_minute()
        now = self._per_address.get(key, 0) + change
        if now > 0:
            self._per_address[key] = now
            if now > self._peaks.get(key, 0):
                self._peaks[key] = now
        else:
            del self._per_address[key]
            self._peaks.setdefault(key, 1)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Upgrade a GET to a WebSocket and serve tracker messages until it closes."""
        ws = web.WebSocketResponse(
            max_msg_size=self.limits.max_message_bytes,
            heartbeat=self.limits.idle_timeout_s / 1.5,
            compress=False,
            timeout=CLOSE_TIMEOUT_S,
        )
        if not ws.can_prepare(request).ok:
            return web.Response(
                status=426,
                text=UPGRADE_REQUIRED_TEXT,
                headers={"Upgrade": "websocket", "Connection": "Upgrade"},
            )
        await ws.prepare(request)
        connection = self.open(_AiohttpSocket(ws, request.transport), request.remote or "")
        address = self._address_key(request.remote or "")
        self._count_open(address, 1)
        try:
            async for message in ws:
                if message.type is _TEXT:
                    self.receive(connection, message.data)
                elif message.type is WSMsgType.BINARY:
                    self.refuse_binary(connection)
                elif message.type is WSMsgType.ERROR:
                    # aiohttp has already closed the socket: 1009 for an oversized
                    # message, 1007 for invalid UTF-8, 1002 for a protocol violation.
                    if isinstance(message.data, WebSocketError):
                        self.count_failure()
                    break
        finally:
            self.closed(connection)
            self._count_open(address, -1)
        return ws
