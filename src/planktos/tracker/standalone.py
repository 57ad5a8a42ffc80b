"""The standalone ``planktos tracker``: WebSockets on a bare asyncio Protocol, Sans-IO.

Each socket is one :class:`asyncio.Protocol` driving websockets' Sans-IO
:class:`~websockets.server.ServerProtocol` (HTTP handshake and frame parsing; no task, no
timer and no parsed request kept per socket). Its text messages go to the
:class:`~planktos.tracker.hub.TrackerHub` shared with the aiohttp adapter of
``planktos serve`` (:mod:`.server`). Per held socket this costs about half the memory and
a good deal less CPU per message than aiohttp (bench/README.md).

HTTP: the WebSocket at ``path`` and at ``/planktos/tracker``; a plain GET there gets 426
with a line of text; ``/stats`` answers the hub's stats as JSON; anything else 404. Every
HTTP answer closes its connection.

Socket handling, and why:

- A message longer than ``max_message_bytes`` is refused from its frame header, before
  its payload is buffered, and the socket is closed with 1009 "message too big" (RFC 6455
  §7.4.1); the client reconnects as after any close. Everyone else keeps working. A binary
  message gets a failure reason and the socket stays open. Invalid UTF-8 in a text message
  closes the socket with 1007.
- Idleness, in one sweep over all sockets every ``idle_timeout_s / 6`` instead of a timer
  per socket: a socket silent for 3 to 4 sweeps (anything received counts, a pong too) is
  pinged; one silent for 5 to 6 sweeps is cut. A vanished browser is so gone within
  ``idle_timeout_s`` while a live one, which answers pings by itself, is never cut between
  announces (a per-message receive timeout would cut background tabs, whose timers
  browsers throttle). A connection in its closing handshake gets one to two sweeps; one
  whose HTTP request is not complete ``handshake_timeout_s`` after it opened is cut then,
  even if it sends a byte every few seconds (one timer per connection, only until its
  request is read).
- Sending never waits for another peer (:meth:`~planktos.tracker.hub.TrackerHub.send`).
- No per-message compression (browsers offer permessage-deflate): its zlib state would
  cost far more memory per held connection than everything else here together.
- Shutdown (:meth:`TrackerServer.close`): stop listening, close every WebSocket with 1001
  and wait up to ``CLOSE_TIMEOUT_S`` for the clients' answers, then cut the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

import orjson
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.typing import BytesLike

from planktos.errors import InputError
from planktos.tracker.cluster import TrackerCluster
from planktos.tracker.hub import CLOSE_TIMEOUT_S, GOING_AWAY, TrackerHub
from planktos.tracker.protocol import TrackerLimits
from planktos.tracker.server import UPGRADE_REQUIRED_TEXT

__all__ = ["EMBEDDED_PATH", "TrackerServer"]

EMBEDDED_PATH = "/planktos/tracker"
"""Where ``planktos serve`` mounts the tracker, and where the standalone one also answers."""

SWEEPS_PER_IDLE_TIMEOUT = 6
_PING_AT = 4  # sweeps without a byte received: silent for 3 to 4 sweep periods
_CUT_AT = 6  # silent for 5 to 6 periods, at most ``idle_timeout_s``
_CUT_UNOPENED_AT = 2

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_WS_LOG = logging.getLogger("planktos.tracker.websocket")


class _Connection(asyncio.Protocol):
    """One TCP connection: an HTTP request, then possibly a WebSocket."""

    __slots__ = (
        "_closed",
        "_fragments",
        "_handshake",
        "_id",
        "_quiet",
        "_server",
        "_ws",
        "transport",
    )

    def __init__(self, server: TrackerServer) -> None:
        self._server = server
        self._ws = ServerProtocol(max_size=server.hub.limits.max_message_bytes, logger=_WS_LOG)
        self.transport: asyncio.Transport | None = None
        self._id = 0  # the hub's connection id once the WebSocket is open
        self._fragments: list[BytesLike] | None = None  # of a fragmented text message
        self._closed: asyncio.Future[None] | None = None  # only while shutting down
        self._quiet = 0  # sweeps since something arrived
        self._handshake: asyncio.TimerHandle | None = None  # until the request is read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self._server.connections.add(self)
        timeout = self._server.hub.limits.handshake_timeout_s
        self._handshake = asyncio.get_running_loop().call_later(timeout, self.abort)

    def data_received(self, data: bytes) -> None:
        self._quiet = 0
        ws = self._ws
        healthy = ws.parser_exc is None
        ws.receive_data(data)
        for event in ws.events_received():
            if type(event) is Frame:
                if ws.state is OPEN:
                    self._frame(event)
            elif isinstance(event, Request):
                self._request(event)
        if healthy and ws.parser_exc is not None and self._id:
            self._server.hub.count_failure()  # too big (1009) or a protocol error (1002)
        self._flush()

    def eof_received(self) -> bool:
        self._ws.receive_eof()
        self._flush()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_handshake()
        self._server.connections.discard(self)
        if self._id:
            self._server.hub.closed(self._id)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def is_open(self) -> bool:
        return self._ws.state is OPEN

    async def shut_down(self) -> None:
        """Close the WebSocket with 1001 and wait for the connection to end."""
        if self.transport is None or self._id not in self._server.hub.sockets:
            return
        if self._ws.state is OPEN:
            self._ws.send_close(GOING_AWAY, "tracker shutting down")
            self._flush()
        self._closed = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._closed, CLOSE_TIMEOUT_S)
        except TimeoutError:
            self.transport.abort()

    def sweep(self) -> None:
        """One idle sweep: ping a quiet socket, cut a silent one (see the module's doc)."""
        self._quiet += 1
        if self.transport is None:
            return
        if self._ws.state is OPEN:
            if self._quiet == _PING_AT:
                self._ws.send_ping(b"")
                self._flush()
            elif self._quiet >= _CUT_AT:
                self.transport.abort()
        elif self._quiet >= _CUT_UNOPENED_AT:
            self.transport.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is _TEXT:
            if frame.fin:
                self._text(frame.data)
            else:
                self._fragments = [frame.data]
        elif opcode is _CONT:
            fragments = self._fragments
            if fragments is None:  # of a binary message
                if frame.fin:
                    self._server.hub.refuse_binary(self._id)
            else:
                fragments.append(frame.data)
                if frame.fin:
                    self._fragments = None
                    self._text(b"".join(fragments))
        elif opcode is _BINARY and frame.fin:
            self._server.hub.refuse_binary(self._id)
        # ping, pong and close: answered by the ServerProtocol itself

    def _text(self, payload: BytesLike) -> None:
        try:
            text = str(payload, "utf-8")
        except UnicodeDecodeError as err:
            self._server.hub.count_failure()
            self._ws.fail(1007, f"invalid UTF-8 at byte {err.start}")
            return
        self._server.hub.receive(self._id, text)

    def _end_handshake(self) -> None:
        if self._handshake is not None:
            self._handshake.cancel()
            self._handshake = None

    def _request(self, request: Request) -> None:
        self._end_handshake()
        server = self._server
        ws = self._ws
        path = request.path.partition("?")[0]
        response: Response
        if path in server.ws_paths:
            upgrade = " ".join(request.headers.get_all("Upgrade")).lower()
            if "websocket" in upgrade:
                response = ws.accept(request)
            else:
                response = ws.reject(426, UPGRADE_REQUIRED_TEXT)
                response.headers["Upgrade"] = "websocket"
        elif path == "/stats":
            response = ws.reject(200, orjson.dumps(server.hub.stats()).decode())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
        else:
            response = ws.reject(404, f"Not found. The tracker is at {EMBEDDED_PATH}.\n")
        ws.send_response(response)
        if response.status_code == 101:
            peer = self.transport.get_extra_info("peername") if self.transport else None
            address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            self._id = server.hub.open(self, address)

    def _flush(self) -> None:
        transport = self.transport
        writes = self._ws.data_to_send()
        if transport is None or not writes:
            return
        if self._id:
            self._server.hub.flush_socket(self)  # data frames queued before these go first
        for data in writes:
            if data:
                transport.write(data)
            else:  # the protocol is done with this connection: the server closes TCP
                transport.close()


class TrackerServer:
    """The standalone tracker: listen with :meth:`start`, stop with :meth:`close`."""

    def __init__(
        self,
        *,
        is_allowed: Callable[[bytes], bool] | None = None,
        limits: TrackerLimits | None = None,
        path: str = "/",
        cluster: TrackerCluster | None = None,
    ) -> None:
        if not path.startswith("/") or path == "/stats":
            raise InputError(path, "tracker path must start with '/' and must not be /stats")
        self.hub = TrackerHub(is_allowed=is_allowed, limits=limits, cluster=cluster)
        self.ws_paths = frozenset((path, EMBEDDED_PATH))
        self.connections: set[_Connection] = set()
        self._listener: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Join the cluster, if any, then listen; returns the bound port (for port 0).

        Raises OSError when it cannot listen, after leaving the cluster again.
        """
        await self.hub.start()
        loop = asyncio.get_running_loop()
        try:
            self._listener = await loop.create_server(lambda: _Connection(self), host, port)
        except OSError:
            await self.hub.close()
            raise
        self._sweeper = asyncio.create_task(self._sweep())
        return int(self._listener.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, close every WebSocket with 1001, then cut what is left."""
        if self._listener is not None:
            self._listener.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.hub.close()
        for connection in list(self.connections):
            connection.abort()

    async def _sweep(self) -> None:
        period = self.hub.limits.idle_timeout_s / SWEEPS_PER_IDLE_TIMEOUT
        while True:
            await asyncio.sleep(period)
            for connection in list(self.connections):
                connection.sweep()
