"""A total deadline for each HTTP request head: slow half-open requests are cut.

aiohttp times out a connection that sends nothing, but not one that sends a request head one
byte every few seconds: such a connection was held forever, and a few thousand of them cost
the server its file descriptors. :class:`HeadDeadline` starts a timer at the first byte of a
request head and cuts the connection if the head is not complete ``timeout_s`` later,
however steadily its bytes trickle in. The WebSocket handshake of the embedded tracker is
such a head too. Once the head is complete (the app's middleware runs), the timer stops;
after the handler returns, the next byte starts it again (keep-alive). A request being
handled (a download, a WebSocket) is never cut by it.

It sits between the transport and aiohttp's protocol as a thin :class:`asyncio.Protocol`
that forwards everything (:class:`_Guard`); :class:`DeadlineSite` listens with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import web

HEAD_TIMEOUT_S = 10.0
"""Default time from the first byte of a request head to its end. A browser sends a head in
one or two TCP segments; Apache's mod_reqtimeout allows 20 s for a head, nginx 60 s between
reads."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HeadDeadline:
    """The guards of one server's connections, and the middleware that tells them a head
    is complete."""

    def __init__(self, timeout_s: float = HEAD_TIMEOUT_S) -> None:
        if not timeout_s > 0:
            raise ValueError(f"head timeout must be > 0 s, got {timeout_s!r}")
        self.timeout_s = timeout_s
        self.cut = 0  # connections cut so far
        self._guards: dict[asyncio.BaseTransport, _Guard] = {}

    def protocol_factory(
        self, make: Callable[[], asyncio.Protocol]
    ) -> Callable[[], asyncio.Protocol]:
        """Wrap aiohttp's protocol factory (the runner's server)."""
        return lambda: _Guard(make(), self)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Stop the clock while a request is handled; restart it on the next head's bytes."""
        transport = request.transport
        guard = self._guards.get(transport) if transport is not None else None
        if guard is not None:
            guard.handling()
        try:
            return await handler(request)
        finally:
            if guard is not None:
                guard.between_requests()


class _Guard(asyncio.Protocol):
    """Forwards every protocol call to aiohttp's handler; cuts a head that takes too long."""

    __slots__ = ("_deadline", "_inner", "_timer", "_transport", "_waiting")

    def __init__(self, inner: asyncio.Protocol, deadline: HeadDeadline) -> None:
        self._inner = inner
        self._deadline = deadline
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self._waiting = True  # for a request head

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self._deadline._guards[transport] = self
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._waiting and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._deadline.timeout_s, self._expire)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        if self._transport is not None:
            self._deadline._guards.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def handling(self) -> None:
        """A head is complete: no deadline while its request is handled."""
        self._waiting = False
        self._stop_clock()

    def between_requests(self) -> None:
        """The handler returned: the next byte starts the next head's clock."""
        self._waiting = True

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._waiting and self._transport is not None:
            self._deadline.cut += 1
            self._transport.abort()


class DeadlineSite(web.BaseSite):
    """A TCP site whose connections go through a :class:`HeadDeadline`."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, deadline: HeadDeadline
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._deadline = deadline

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.bound_port}"

    @property
    def bound_port(self) -> int:
        """The port listened on (the chosen one for port 0)."""
        if self._server is not None and getattr(self._server, "sockets", None):
            return int(self._server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() first"
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._deadline.protocol_factory(server), self._host, self._port, backlog=128
        )
