"""A loopback TCP relay that delays every byte by a fixed time in each direction.

This kernel has ``tc`` HTB but no netem, so a round trip on loopback costs microseconds and
what a real network's latency does to a page (a request that waits for another one) is
invisible. The benchmarks put this relay in front of an origin to give it a round-trip time:
each chunk read from one side is written to the other ``delay_s`` after it arrived, in order,
so a request/response exchange costs 2 x ``delay_s`` more, as on a path with that RTT.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay_s`` after it was read."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def pump() -> None:
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay_s, chunk))
        queue.put_nowait((time.monotonic() + delay_s, b""))

    async def deliver() -> None:
        while True:
            at, chunk = await queue.get()
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()

    try:
        await asyncio.gather(pump(), deliver())
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            writer.close()


async def _serve(host: str, port: int, delay_s: float, ready: asyncio.Future[int]) -> None:
    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            s_reader, s_writer = await asyncio.open_connection(host, port)
        except OSError:
            c_writer.close()
            return
        await asyncio.gather(_pipe(c_reader, s_writer, delay_s), _pipe(s_reader, c_writer, delay_s))
        for w in (c_writer, s_writer):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    ready.set_result(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


@contextmanager
def delayed(url: str, rtt_ms: float) -> Iterator[str]:
    """``url`` (``http://127.0.0.1:PORT/…``) behind a relay adding ``rtt_ms`` to each round
    trip; yields the relay's URL. A thread of its own, so that the caller's event loop (the
    browsers' driver) does not slow it."""
    if rtt_ms <= 0:
        yield url
        return
    prefix, rest = url.split("//", 1)
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[int] = loop.create_future()
    task = loop.create_task(_serve(host, int(port), rtt_ms / 2000, ready))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        relay_port = asyncio.run_coroutine_threadsafe(asyncio.wait_for(ready, 5), loop).result(10)
    except BaseException:
        loop.call_soon_threadsafe(task.cancel)
        raise
    try:
        yield f"{prefix}//{host}:{relay_port}/{path}"
    finally:
        loop.call_soon_threadsafe(task.cancel)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
