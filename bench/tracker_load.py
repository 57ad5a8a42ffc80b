"""Load generator for WebSocket trackers: many fake WebTorrent clients speaking the real protocol.

Each connection is one peer of one swarm (``swarm_size`` consecutive connections share an info
hash). A peer announces with ``offers`` offers of an SDP-sized payload and ``numwant``, exactly
as bittorrent-tracker's client does; every offer the tracker relays to it is answered with an
``answer`` announce addressed (``to_peer_id``) to the offering peer, which the tracker relays
back. Connection ``i`` uses ``urls[i % len(urls)]``, so several tracker processes sharing
swarms (e.g. through Redis) get every swarm spread over all of them.

The clients run in ``processes`` worker processes (forked, each with its own event loop, uvloop
when installed, optionally pinned to ``cpus``), never in the process of the tracker under test.
A worker is driven step by step from the parent through a pipe, so a benchmark can hold
connections while it measures the server:

    with LoadGenerator(["ws://127.0.0.1:8000/"], processes=1, cpus={1}) as load:
        load.connect(1000)          # open 1,000 sockets; each announces "started" once
        result = load.run(5.0)      # closed loop for 5 s: announce again as soon as answered
        errors = load.check()       # one more announce on every socket: all must answer

Relay latency: an offer id carries the sender's CLOCK_MONOTONIC time (system-wide on Linux,
so it holds across processes); the receiving peer records ``now - then`` for every offer.

CLI: ``python bench/tracker_load.py ws://127.0.0.1:8000/ --connections 1000 --duration 5``
prints the result as JSON.

Client library: aiohttp's WebSocket client, because aiohttp is already Planktos's dependency
and its frame reader and masking are compiled; orjson parses the relayed messages when
installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

try:
    import orjson

    _loads: Callable[[str], Any] = orjson.loads
except ImportError:  # pragma: no cover - the bench works without it, only slower
    _loads = json.loads

COUNTS = (
    "announces",
    "offers_received",
    "answers_sent",
    "answers_received",
    "failures",
    "errors",
)
"""What each client process counts (summed over processes in a run's result)."""

_SDP_LINES = (
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:{ufrag}",
    "a=ice-pwd:{pwd}",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 {fingerprint}",
    "a=setup:{setup}",
    "a=mid:0",
    "a=sctp-port:5000",
    "a=max-message-size:262144",
)


def fake_sdp(kind: str, size: int, rng: random.Random) -> str:
    """An SDP shaped like Chromium's data-channel offer/answer, padded to ``size`` characters."""
    text = "\r\n".join(_SDP_LINES).format(
        ufrag="".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=4)),
        pwd="".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=24)),
        fingerprint=":".join(f"{rng.randrange(256):02X}" for _ in range(32)),
        setup="actpass" if kind == "offer" else "active",
    )
    text += "\r\n"
    while len(text) < size:
        candidate = (
            f"a=candidate:{rng.randrange(1 << 32)} 1 udp 2113937151 127.0.0.1 "
            f"{rng.randrange(1024, 65536)} typ host generation 0 network-cost 999\r\n"
        )
        text += candidate
    return text[:size]


def peer_id(index: int) -> str:
    """Peer id of connection ``index``: 20 ASCII characters, as WebTorrent's are."""
    return f"-PL0001-{index:012d}"


def info_hash(swarm: int) -> str:
    """Info hash of swarm ``swarm`` as a 20-character binary string (ASCII here)."""
    return f"planktos-bench-{swarm:05d}"


@dataclass
class LoadResult:
    """What the clients saw during one measured window (sums over all worker processes)."""

    connections: int
    duration_s: float
    announces: int = 0  # announce replies received
    offers_received: int = 0  # offers the tracker relayed to a peer
    answers_sent: int = 0
    answers_received: int = 0  # answers relayed back to the offering peer
    failures: int = 0  # "failure reason" messages
    errors: int = 0  # sockets that closed or failed during the window
    latencies_ms: list[float] = field(default_factory=list)  # offer sent -> offer received
    probed: list[float] = field(default_factory=list)  # see LoadGenerator.run

    @property
    def announces_per_s(self) -> float:
        return self.announces / self.duration_s

    @property
    def offers_per_s(self) -> float:
        return self.offers_received / self.duration_s

    def latency_ms(self, quantile: float) -> float | None:
        """A quantile (0..1) of the relay latency, or None without samples."""
        if not self.latencies_ms:
            return None
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        cuts = statistics.quantiles(self.latencies_ms, n=1000, method="inclusive")
        return cuts[min(len(cuts) - 1, max(0, round(quantile * 1000) - 1))]

    def summary(self) -> dict[str, Any]:
        """The result without the raw samples, with rates and latency quantiles."""
        data = asdict(self)
        del data["latencies_ms"], data["probed"]
        data["announces_per_s"] = round(self.announces_per_s, 1)
        data["offers_per_s"] = round(self.offers_per_s, 1)
        data["latency_samples"] = len(self.latencies_ms)
        for name, q in (("latency_p50_ms", 0.5), ("latency_p99_ms", 0.99)):
            value = self.latency_ms(q)
            data[name] = None if value is None else round(value, 3)
        return data


@dataclass(frozen=True)
class _Config:
    urls: tuple[str, ...]
    offers: int
    numwant: int
    swarm_size: int
    sdp_bytes: int
    connect_concurrency: int
    timeout_s: float


class LoadGenerator:
    """Worker processes holding the client sockets; every method blocks until all are done."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        processes: int = 1,
        cpus: set[int] | None = None,
        offers: int = 5,
        numwant: int = 5,
        swarm_size: int = 50,
        sdp_bytes: int = 500,
        connect_concurrency: int = 256,
        timeout_s: float = 30.0,
    ) -> None:
        if not urls:
            raise ValueError("urls: give at least one tracker URL")
        if processes < 1:
            raise ValueError(f"processes: must be >= 1, got {processes}")
        self.config = _Config(
            tuple(urls), offers, numwant, swarm_size, sdp_bytes, connect_concurrency, timeout_s
        )
        self.processes = processes
        self.cpus = cpus
        self._pipes: list[multiprocessing.connection.Connection] = []
        self._workers: list[multiprocessing.process.BaseProcess] = []
        context = multiprocessing.get_context("fork")  # before any event loop exists here
        for index in range(processes):
            parent, child = context.Pipe()
            worker = context.Process(
                target=_worker_main,
                args=(child, index, processes, self.config, cpus),
                daemon=True,
            )
            worker.start()
            child.close()
            self._pipes.append(parent)
            self._workers.append(worker)
        self.connections = 0

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.pid is not None]

    def connect(self, total: int, offers: bool = False) -> int:
        """Grow or shrink to ``total`` open sockets; returns errors. Each new socket announces
        "started" once and waits for the reply, with offers if ``offers``."""
        replies = self._ask("connect", (total, offers))
        self.connections = total
        return sum(int(r) for r in replies)

    def run(
        self,
        duration_s: float,
        pace_s: float | None = None,
        probe: Callable[[], Sequence[float]] | None = None,
    ) -> LoadResult:
        """Every socket announces in a loop for ``duration_s``: again as soon as it gets its
        reply (closed loop), or ``pace_s`` seconds after it (a steady, light load).

        ``probe`` (e.g. CPU seconds of the server and of the clients) is read when the window
        opens and when it closes; the differences are the result's ``probed``.
        """
        start_at = time.monotonic() + 0.2  # every worker starts its window at the same instant
        for pipe in self._pipes:
            pipe.send(("run", (start_at, duration_s, pace_s)))
        result = LoadResult(connections=self.connections, duration_s=duration_s)
        if probe is not None:
            time.sleep(max(0.0, start_at - time.monotonic()))
            first = probe()
            time.sleep(max(0.0, start_at + duration_s - time.monotonic()))
            result.probed = [b - a for a, b in zip(first, probe(), strict=True)]
        replies = self._collect("run")
        for part in replies:
            for name in COUNTS:
                setattr(result, name, getattr(result, name) + part[name])
            result.latencies_ms.extend(part["latencies_ms"])
        return result

    def check(self) -> int:
        """Announce once more (no offers) on every socket; returns how many are closed or did
        not answer."""
        return sum(int(r) for r in self._ask("check", None))

    def disconnect(self) -> None:
        """Close every socket (the workers stay, ready to connect again)."""
        self.connect(0)

    def close(self) -> None:
        """Close every socket and stop the workers."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(("exit", None))
        for worker in self._workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
        self._pipes.clear()
        self._workers.clear()

    def _ask(self, command: str, argument: object) -> list[Any]:
        for pipe in self._pipes:
            pipe.send((command, argument))
        return self._collect(command)

    def _collect(self, command: str) -> list[Any]:
        replies = []
        for pipe in self._pipes:
            status, value = pipe.recv()
            if status != "ok":
                raise RuntimeError(f"load worker failed on {command}: {value}")
            replies.append(value)
        return replies


# -- worker process -------------------------------------------------------------------------


class _Peer:
    __slots__ = ("index", "info_hash_json", "peer_id_json", "reader", "waiter", "ws")

    def __init__(self, index: int, swarm_size: int) -> None:
        self.index = index
        self.peer_id_json = json.dumps(peer_id(index))
        self.info_hash_json = json.dumps(info_hash(index // swarm_size))
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None
        self.waiter: asyncio.Future[None] | None = None  # the next announce reply


class _Worker:
    """The sockets of one worker process and what they count."""

    def __init__(self, index: int, processes: int, config: _Config) -> None:
        self.index = index
        self.processes = processes
        self.config = config
        rng = random.Random(index)
        offer_sdp = json.dumps(fake_sdp("offer", config.sdp_bytes, rng))
        answer_sdp = json.dumps(fake_sdp("answer", config.sdp_bytes, rng))
        self._offer_parts = ('{"offer":{"type":"offer","sdp":' + offer_sdp + '},"offer_id":"', '"}')
        self._answer_sdp = answer_sdp
        self.peers: dict[int, _Peer] = {}
        self.session: aiohttp.ClientSession | None = None
        self._counter = 0
        self.measuring = False
        self.looping = False
        self.pace_s: float | None = None
        self.counts: dict[str, int] = {}
        self.latencies: list[float] = []
        self.reset_counts()

    def reset_counts(self) -> None:
        self.counts = dict.fromkeys(
            COUNTS,
            0,
        )
        self.latencies = []

    # messages

    def announce_text(self, peer: _Peer, event: str | None, offers: int) -> str:
        parts = [
            '{"action":"announce","info_hash":',
            peer.info_hash_json,
            ',"peer_id":',
            peer.peer_id_json,
            ',"uploaded":0,"downloaded":0,"left":1000',
        ]
        if event is not None:
            parts.append(f',"event":"{event}"')
        if offers:
            now = time.monotonic_ns()
            head, tail = self._offer_parts
            items = []
            for _ in range(offers):
                self._counter += 1
                # 20 characters, as WebTorrent's: send time (ns, hex) and a counter
                items.append(f"{head}{now:014x}{self._counter & 0xFFFFFF:06x}{tail}")
            parts.append(f',"numwant":{self.config.numwant},"offers":[{",".join(items)}]')
        parts.append("}")
        return "".join(parts)

    def answer_text(self, peer: _Peer, offer: dict[str, Any]) -> str:
        return (
            '{"action":"announce","info_hash":'
            + peer.info_hash_json
            + ',"peer_id":'
            + peer.peer_id_json
            + ',"to_peer_id":'
            + json.dumps(offer["peer_id"])
            + ',"offer_id":'
            + json.dumps(offer["offer_id"])
            + ',"answer":{"type":"answer","sdp":'
            + self._answer_sdp
            + "}}"
        )

    async def send_announce(
        self, peer: _Peer, event: str | None = None, offers: int | None = None
    ) -> None:
        ws = peer.ws
        if ws is None or ws.closed:
            return
        if offers is None:
            offers = self.config.offers
        try:
            await ws.send_str(self.announce_text(peer, event, offers))
        except (ConnectionError, RuntimeError):
            if self.measuring:
                self.counts["errors"] += 1

    def _resend_later(self, peer: _Peer) -> None:
        if self.looping:
            asyncio.get_running_loop().create_task(self.send_announce(peer))

    async def read(self, peer: _Peer) -> None:
        ws = peer.ws
        assert ws is not None
        counts = self.counts
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                data = _loads(message.data)
                counts = self.counts
                if "offer" in data:
                    if self.measuring:
                        counts["offers_received"] += 1
                        sent = int(data["offer_id"][:14], 16)
                        self.latencies.append((time.monotonic_ns() - sent) / 1e6)
                    await ws.send_str(self.answer_text(peer, data))
                    if self.measuring:
                        counts["answers_sent"] += 1
                elif "answer" in data:
                    if self.measuring:
                        counts["answers_received"] += 1
                elif "failure reason" in data:
                    counts["failures"] += 1
                elif "interval" in data:
                    if self.measuring:
                        counts["announces"] += 1
                    waiter = peer.waiter
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                    if self.looping:
                        if self.pace_s is None:
                            await self.send_announce(peer)
                        else:
                            loop = asyncio.get_running_loop()
                            loop.call_later(self.pace_s, self._resend_later, peer)
        except (ConnectionError, aiohttp.ClientError, RuntimeError, ValueError):
            pass
        if peer.index in self.peers:  # closed by the server or the network, not by us
            self.counts["errors"] += 1
            waiter = peer.waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionError("closed"))

    # commands

    def my_indexes(self, total: int) -> range:
        return range(self.index, total, self.processes)

    async def connect(self, total: int, offers: bool = False) -> int:
        """Open or close sockets so that this worker holds its share of ``total``."""
        wanted = set(self.my_indexes(total))
        gone = [self.peers.pop(i) for i in list(self.peers) if i not in wanted]
        await asyncio.gather(*(self._close(peer) for peer in gone))
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, force_close=True),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.config.timeout_s),
            )
        new = [i for i in sorted(wanted) if i not in self.peers]
        gate = asyncio.Semaphore(self.config.connect_concurrency)
        results = await asyncio.gather(*(self._open(i, gate, offers) for i in new))
        return results.count(False)

    async def _open(self, index: int, gate: asyncio.Semaphore, offers: bool) -> bool:
        assert self.session is not None
        config = self.config
        peer = _Peer(index, config.swarm_size)
        async with gate:
            try:
                peer.ws = await self.session.ws_connect(
                    config.urls[index % len(config.urls)],
                    autoping=True,
                    max_msg_size=0,
                    compress=0,
                )
            except (TimeoutError, OSError, aiohttp.ClientError):
                return False
            self.peers[index] = peer
            peer.reader = asyncio.get_running_loop().create_task(self.read(peer))
            return await self._await_reply(peer, "started", None if offers else 0)

    async def _await_reply(self, peer: _Peer, event: str | None, offers: int | None = None) -> bool:
        peer.waiter = asyncio.get_running_loop().create_future()
        await self.send_announce(peer, event, offers)
        try:
            await asyncio.wait_for(peer.waiter, self.config.timeout_s)
        except (TimeoutError, ConnectionError):
            return False
        finally:
            peer.waiter = None
        return True

    async def _close(self, peer: _Peer) -> None:
        if peer.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(peer.ws.close(), 5)
        if peer.reader is not None:
            peer.reader.cancel()
            with contextlib.suppress(BaseException):
                await peer.reader

    async def run(self, start_at: float, duration_s: float, pace_s: float | None) -> dict[str, Any]:
        self.reset_counts()
        self.pace_s = pace_s
        self.looping = True
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        self.measuring = True
        peers = list(self.peers.values())
        random.Random(self.index).shuffle(peers)
        for peer in peers:  # every socket starts with one announce in flight
            await self.send_announce(peer)
        await asyncio.sleep(max(0.0, start_at + duration_s - time.monotonic()))
        self.measuring = False
        self.looping = False
        await asyncio.sleep(min(0.5, duration_s))  # announces in flight finish uncounted
        return {**self.counts, "latencies_ms": self.latencies}

    async def check(self) -> int:
        peers = list(self.peers.values())
        gate = asyncio.Semaphore(self.config.connect_concurrency)

        async def one(peer: _Peer) -> bool:
            async with gate:
                return await self._await_reply(peer, None, offers=0)

        results = await asyncio.gather(*(one(peer) for peer in peers))
        return results.count(False)

    async def close(self) -> None:
        await self.connect(0)
        if self.session is not None:
            await self.session.close()


def _worker_main(
    pipe: multiprocessing.connection.Connection,
    index: int,
    processes: int,
    config: _Config,
    cpus: set[int] | None,
) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    raise_open_files_limit()
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    runner(_serve_commands(pipe, _Worker(index, processes, config)))


async def _serve_commands(pipe: multiprocessing.connection.Connection, worker: _Worker) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command, argument = await loop.run_in_executor(None, pipe.recv)
        try:
            if command == "exit":
                await worker.close()
                pipe.send(("ok", None))
                return
            if command == "connect":
                reply: object = await worker.connect(*argument)
            elif command == "run":
                reply = await worker.run(*argument)
            elif command == "check":
                reply = await worker.check()
            else:
                raise ValueError(f"unknown command {command!r}")
        except Exception as error:
            pipe.send(("error", f"{type(error).__name__}: {error}"))
        else:
            pipe.send(("ok", reply))


def raise_open_files_limit() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to its hard limit; returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("urls", nargs="+", help="tracker WebSocket URLs (ws://...)")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--pace", type=float, default=None, help="seconds between announces")
    parser.add_argument("--processes", type=int, default=1, help="client worker processes")
    parser.add_argument("--cpus", default="", help="pin workers to these CPUs, e.g. 1 or 0,1")
    parser.add_argument("--offers", type=int, default=5)
    parser.add_argument("--numwant", type=int, default=5)
    parser.add_argument("--swarm-size", type=int, default=50)
    parser.add_argument("--sdp-bytes", type=int, default=500)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.duration <= 0:
        parser.error("--connections and --duration must be positive")
    try:
        cpus = {int(c) for c in args.cpus.split(",") if c} or None
    except ValueError:
        parser.error(f"--cpus {args.cpus!r}: give CPU numbers separated by commas, e.g. 1")
    raise_open_files_limit()
    with LoadGenerator(
        args.urls,
        processes=args.processes,
        cpus=cpus,
        offers=args.offers,
        numwant=args.numwant,
        swarm_size=args.swarm_size,
        sdp_bytes=args.sdp_bytes,
    ) as load:
        connect_errors = load.connect(args.connections)
        result = load.run(args.duration, args.pace)
        check_errors = load.check()
    print(
        json.dumps(
            {
                **result.summary(),
                "connect_errors": connect_errors,
                "check_errors": check_errors,
            },
            indent=2,
        )
    )
    return 0 if connect_errors == check_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
