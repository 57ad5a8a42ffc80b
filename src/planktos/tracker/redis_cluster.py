"""Several tracker processes share their swarms through Redis (``--redis URL``).

Imported only when ``--redis`` is given: without it, the tracker neither imports ``redis``
nor pays anything for it. Each process keeps deciding everything for its own sockets with
:class:`~planktos.tracker.swarm.TrackerCore`, over a :class:`~.cluster.ClusterStore` that
mirrors the other processes' peers in memory; this module keeps that mirror current and
carries messages between processes. Keys and channels (``P`` = ``planktos:tracker``):

- ``P:processes`` (set): the processes of the cluster, by random id.
- ``P:alive:<id>`` (string, expires after ``ttl_s``): refreshed every ``ttl_s / 3``; while it
  exists, the process is alive.
- ``P:peers:<id>`` (hash): the process's peers, field ``info_hash + peer_id`` (40 bytes) →
  ``1`` (complete) or ``0``: what a process that starts or reconnects loads.
- ``P:members`` (channel): every change to a peer, published right after the hash is
  written, in the same pipeline; ``S<id>`` tells the others to reload ``<id>``'s hash,
  ``G<id>`` that ``<id>`` left.
- ``P:relay:<id>`` (channel): offers and answers for peers whose socket ``<id>`` holds:
  ``info_hash + peer_id`` of the target, then the message as JSON, sent on as it is.

Each pub/sub message carries every record queued for its channel since the last write,
each prefixed by its length: under load, one PUBLISH carries many offers, which is what
keeps Redis affordable (each command costs far more in redis-py and Redis than its bytes).
Membership is published before relays, so a process learns of a peer before it is handed
that peer's offers.

Why a mirror rather than reading Redis on every announce: the announce path stays a
synchronous in-memory call (no round trip, no new latency for peers of the same process),
and a process only pays Redis for what actually crosses processes (joins, leaves,
completions and relays, batched into one pipeline per event-loop turn). The cost is memory:
every process holds every peer of the cluster (314 bytes each, measured with tracemalloc
over 10,000 remote peers).

Failure handling:

- A process that dies (even SIGKILL) stops refreshing its key; at most ``ttl_s`` later the key
  expires, and within ``ttl_s / 3`` after that the survivors' heartbeat sees it, drops its
  peers from their mirrors, deletes its hash and tells the others (``G<id>``): its peers are
  forgotten within ``4/3 * ttl_s`` of its death.
- Redis going away: the process logs one warning, forgets every remote peer and serves its
  own sockets as a lone tracker would (local swarms only), and tries to reconnect every
  ``ttl_s / 3``. Once back, it restates its peers (``S<id>``), reloads the others', logs once
  more, and swarms are shared again. A process that was too slow to refresh its key and was
  declared dead does the same on its next heartbeat.
- Redis unreachable at start: :class:`ClusterError`, before the port is bound.

Races that cannot be closed cheaply and are harmless: an offer relayed to a peer that left
meanwhile is dropped by the receiving process (a lone tracker drops it the same way), and
two processes that accept the same peer id at the same moment each keep their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from planktos.errors import InputError, PlanktosError
from planktos.tracker.cluster import ClusterStore, MemberEvent, MemberOp, ProcessId
from planktos.tracker.protocol import HASH_LENGTH, encode_message_utf8
from planktos.tracker.swarm import ConnectionId, Delivery

__all__ = ["ClusterError", "RedisCluster"]

DEFAULT_PREFIX = "planktos:tracker"
DEFAULT_TTL_S = 10.0
_CONNECT_TIMEOUT_S = 5.0
_CLOSE_TIMEOUT_S = 1.0
_MAX_QUEUED_RELAYS = 50_000  # Redis slower than the sockets: drop offers rather than grow
_KEY = 2 * HASH_LENGTH
_FAILURES = (RedisError, OSError, EOFError)

log = logging.getLogger(__name__)

Send = Callable[[ConnectionId, bytes], Awaitable[None]]  # a text frame's UTF-8 payload


class ClusterError(PlanktosError):
    """The tracker cannot join its cluster (Redis unreachable at start)."""


class RedisCluster:
    """The tracker process's link to the others through Redis; see the module docstring."""

    def __init__(
        self, url: str, *, ttl_s: float = DEFAULT_TTL_S, prefix: str = DEFAULT_PREFIX
    ) -> None:
        try:
            parse_url(url)
        except ValueError as err:
            raise InputError(
                url, f"not a Redis URL ({err}); give e.g. redis://host:6379/0"
            ) from err
        if not ttl_s > 0:
            raise InputError("--redis-ttl", f"must be > 0 seconds, got {ttl_s!r}")
        self.url = url
        self.ttl_s = ttl_s
        self.process: ProcessId = secrets.token_hex(8)
        self.store = ClusterStore(self.process, self._queue_event)
        self.relays_out = 0
        self.relays_in = 0
        self.relays_dropped = 0
        self._beat_s = ttl_s / 3
        self._processes_key = f"{prefix}:processes"
        self._members = f"{prefix}:members".encode()
        self._prefix = prefix
        self._relay_channel = self._relay_key(self.process).encode()
        self._outbox: list[tuple[MemberEvent | None, bytes, bytes]] = []
        self._queued_relays = 0
        self._wake = asyncio.Event()
        self._client: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._send: Send | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = False

    # -- what the adapter calls ---------------------------------------------------------

    def bind(self, send: Send) -> None:
        """Give the cluster the adapter's way to send an encoded message to a local socket."""
        self._send = send

    async def start(self) -> None:
        """Join the cluster, or raise ClusterError; then keep the link up in the background."""
        try:
            await self._connect()
        except _FAILURES as err:
            await self._disconnect()
            raise ClusterError(
                self.url, f"cannot reach Redis ({_describe(err)}); start it or fix --redis"
            ) from err
        self._task = asyncio.create_task(self._run())

    def relay(self, delivery: Delivery) -> bool:
        """Send a delivery for a remote peer to its process; False if the peer is local."""
        target = self.store.remote_target(delivery.connection)
        if target is None:
            return False
        if not self.connected or self._queued_relays >= _MAX_QUEUED_RELAYS:
            self.relays_dropped += 1
            return True
        text = encode_message_utf8(delivery.message)
        payload = target.info_hash + target.peer_id + text
        self._outbox.append((None, self._relay_key(target.process).encode(), payload))
        self._queued_relays += 1
        self.relays_out += 1
        self._wake.set()
        return True

    def stats(self) -> dict[str, object]:
        """This process's id, whether Redis is reachable, and the relay counters."""
        return {
            "process": self.process,
            "connected": self.connected,
            "processes": len(self.store.remote_processes()) + 1,
            "relays_out": self.relays_out,
            "relays_in": self.relays_in,
            "relays_dropped": self.relays_dropped,
        }

    async def close(self) -> None:
        """Leave the cluster: the others forget this process's peers at once."""
        self._closing = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # A cancellation that lands inside redis-py's pipeline cleanup can be lost
            # (seen with redis-py 8 on Python 3.11): the loops also stop on _closing, and
            # disconnecting below ends any read still pending.
            await asyncio.wait({task}, timeout=_CLOSE_TIMEOUT_S)
        if self.connected and self._client is not None and (task is None or task.done()):
            with contextlib.suppress(*_FAILURES):
                await asyncio.wait_for(
                    self._forget_process(self._client, self.process), _CLOSE_TIMEOUT_S
                )
        await self._disconnect()
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=_CLOSE_TIMEOUT_S)

    # -- the link -----------------------------------------------------------------------

    async def _connect(self) -> None:
        """Connect, subscribe, state this process's peers, load the others'."""
        client = aioredis.from_url(
            self.url,
            socket_connect_timeout=_CONNECT_TIMEOUT_S,
            socket_timeout=max(self.ttl_s / 2, 1.0),
            # A failure must surface here rather than be retried away: a pub/sub connection
            # that silently reconnects would have missed events.
            retry=Retry(NoBackoff(), 0),
        )
        self._client = client
        pubsub = client.pubsub()
        self._pubsub = pubsub
        await pubsub.subscribe(self._members, self._relay_channel)
        await self._register(client)
        await self._load_others(client)

    async def _disconnect(self) -> None:
        self.connected = False
        pubsub, client = self._pubsub, self._client
        self._pubsub = self._client = None
        with contextlib.suppress(*_FAILURES):
            if pubsub is not None:
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # untyped before redis 8
        with contextlib.suppress(*_FAILURES):
            if client is not None:
                await client.aclose()

    async def _run(self) -> None:
        while True:
            assert self._client is not None and self._pubsub is not None
            error: BaseException = ConnectionError("closed")
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._write(self._client))
                    group.create_task(self._listen(self._client, self._pubsub))
                    group.create_task(self._heartbeat(self._client))
            except* Exception as failures:
                error = failures.exceptions[0]
                if not isinstance(error, _FAILURES) and not self._closing:
                    log.error("tracker: cluster link failed", exc_info=error)
            if self._closing:
                return
            await self._disconnect()
            dropped = self.store.drop_remote()
            self._outbox.clear()
            self._queued_relays = 0
            log.warning(
                "tracker: lost Redis at %s (%s); serving this process's peers only "
                "(%d remote peers forgotten) until it is back",
                self.url,
                _describe(error),
                dropped,
            )
            while not self._closing:
                await asyncio.sleep(self._beat_s)
                try:
                    await self._connect()
                    break
                except _FAILURES:
                    await self._disconnect()
            if self._closing:
                return
            log.warning("tracker: Redis at %s is back; swarms are shared again", self.url)

    async def _register(self, client: aioredis.Redis) -> None:
        """Write this process's peers and liveness, and tell the others to load them."""
        self._outbox.clear()  # every queued change is in the snapshot taken now
        self._queued_relays = 0
        self.connected = True  # changes from now on are queued, written after this
        peers = {
            event.info_hash + event.peer_id: _flag(event) for event in self.store.local_peers()
        }
        key = self._peers_key(self.process)
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if peers:
                pipe.hset(key, mapping=peers)  # type: ignore[arg-type]
            pipe.set(self._alive_key(self.process), b"1", px=self._ttl_ms)
            pipe.sadd(self._processes_key, self.process)
            pipe.publish(self._members, _frame([b"S" + self.process.encode()]))
            await pipe.execute()

    async def _load_others(self, client: aioredis.Redis) -> None:
        processes = await self._live_processes(client)
        for process in self.store.remote_processes() - processes:
            self.store.drop_process(process)
        for process in processes - {self.process}:
            await self._load(client, process)

    async def _load(self, client: aioredis.Redis, process: ProcessId) -> None:
        snapshot = await client.hgetall(self._peers_key(process))
        events = [
            MemberEvent(MemberOp.JOIN, process, key[:HASH_LENGTH], key[HASH_LENGTH:], flag == b"1")
            for key, flag in snapshot.items()
            if isinstance(key, bytes) and len(key) == _KEY
        ]
        self.store.replace_process(process, events)

    async def _live_processes(self, client: aioredis.Redis) -> set[ProcessId]:
        """Processes whose liveness key exists; the others are forgotten on the way."""
        members = await client.smembers(self._processes_key)
        processes = sorted(_text(member) for member in members)
        async with client.pipeline(transaction=False) as pipe:
            for process in processes:
                pipe.exists(self._alive_key(process))
            alive = await pipe.execute()
        dead = [process for process, exists in zip(processes, alive, strict=True) if not exists]
        for process in dead:
            # A process that closed between the two reads above was already forgotten
            # through its own ``G`` message: only a silent death is news.
            if dropped := self.store.drop_process(process):
                log.warning(
                    "tracker: process %s stopped answering; %d peers forgotten", process, dropped
                )
            await self._forget_process(client, process)
        return set(processes) - set(dead)

    async def _forget_process(self, client: aioredis.Redis, process: ProcessId) -> None:
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(self._peers_key(process), self._alive_key(process))
            pipe.srem(self._processes_key, process)
            pipe.publish(self._members, _frame([b"G" + process.encode()]))
            await pipe.execute()

    async def _heartbeat(self, client: aioredis.Redis) -> None:
        while not self._closing:
            await asyncio.sleep(self._beat_s)
            alive_key = self._alive_key(self.process)
            if not await client.set(alive_key, b"1", px=self._ttl_ms, xx=True):
                log.warning("tracker: this process was taken for dead; stating its peers again")
                await self._register(client)
            processes = await self._live_processes(client)
            for process in self.store.remote_processes() - processes:
                self.store.drop_process(process)

    async def _write(self, client: aioredis.Redis) -> None:
        """Send queued changes and relays, everything queued since the last call at once."""
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox and not self._closing:
                batch, self._outbox = self._outbox, []
                self._queued_relays = 0
                # One message per channel per batch; membership first, so that a process
                # knows a peer before it gets offers from it.
                frames: dict[bytes, list[bytes]] = {self._members: []}
                async with client.pipeline(transaction=False) as pipe:
                    for event, channel, payload in batch:
                        if event is not None:
                            field = event.info_hash + event.peer_id
                            key = self._peers_key(event.process)
                            if event.op is MemberOp.LEAVE:
                                pipe.hdel(key, field)
                            else:
                                pipe.hset(key, field, _flag(event))
                        frames.setdefault(channel, []).append(payload)
                    for channel, payloads in frames.items():
                        if payloads:
                            pipe.publish(channel, _frame(payloads))
                    await pipe.execute()

    async def _listen(self, client: aioredis.Redis, pubsub: PubSub) -> None:
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            relays = message["channel"] == self._relay_channel
            for record in _records(message["data"]):
                if relays:
                    await self._deliver_relay(record)
                else:
                    await self._apply_member(client, record)
        if not self._closing:
            raise ConnectionError("Redis closed the subscription")

    async def _apply_member(self, client: aioredis.Redis, record: bytes) -> None:
        if record[:1] in (b"S", b"G"):
            process = record[1:].decode(errors="replace")
            if process == self.process:
                return
            if record[:1] == b"S":
                await self._load(client, process)
            else:
                self.store.drop_process(process)
            return
        try:
            event = _decode_event(record)
        except (ValueError, UnicodeDecodeError):
            log.warning("tracker: ignored a malformed cluster event %r", record[:80])
            return
        self.store.apply(event)

    async def _deliver_relay(self, data: bytes) -> None:
        info_hash, peer_id = data[:HASH_LENGTH], data[HASH_LENGTH:_KEY]
        peer = self.store.find_peer(info_hash, peer_id)
        if peer is None or self.store.remote_target(peer.connection) is not None:
            self.relays_dropped += 1  # left since the sender chose it
            return
        self.relays_in += 1
        if self._send is not None:
            await self._send(peer.connection, data[_KEY:])

    def _queue_event(self, event: MemberEvent) -> None:
        if not self.connected:
            return  # stated in full by _register once Redis is back
        self._outbox.append((event, self._members, _encode_event(event)))
        self._wake.set()

    @property
    def _ttl_ms(self) -> int:
        return max(int(self.ttl_s * 1000), 1)

    def _alive_key(self, process: ProcessId) -> str:
        return f"{self._prefix}:alive:{process}"

    def _peers_key(self, process: ProcessId) -> str:
        return f"{self._prefix}:peers:{process}"

    def _relay_key(self, process: ProcessId) -> str:
        return f"{self._prefix}:relay:{process}"


def _frame(records: list[bytes]) -> bytes:
    """Records in one pub/sub message: each as a 4-byte big-endian length, then the bytes."""
    return b"".join(len(record).to_bytes(4, "big") + record for record in records)


def _records(data: bytes) -> Iterator[bytes]:
    offset = 0
    while offset + 4 <= len(data):
        end = offset + 4 + int.from_bytes(data[offset : offset + 4], "big")
        yield data[offset + 4 : end]
        offset = end


def _flag(event: MemberEvent) -> bytes:
    return b"1" if event.complete else b"0"


def _encode_event(event: MemberEvent) -> bytes:
    """``op flag info_hash peer_id process``: 1 + 1 + 20 + 20 bytes, then the id."""
    head = event.op.value.encode() + _flag(event)
    return head + event.info_hash + event.peer_id + event.process.encode()


def _decode_event(data: bytes) -> MemberEvent:
    if len(data) <= 2 + _KEY:
        raise ValueError("cluster event too short")
    return MemberEvent(
        MemberOp(data[:1].decode()),
        data[2 + _KEY :].decode(),
        data[2 : 2 + HASH_LENGTH],
        data[2 + HASH_LENGTH : 2 + _KEY],
        data[1:2] == b"1",
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
