"""Swarms shared by several tracker processes: a local mirror of every process's peers. No I/O.

:class:`ClusterStore` is the :class:`~planktos.tracker.swarm.SwarmStore` a tracker process
uses when it is one of several (``--redis``). It holds this process's own peers, whose
connections are its sockets, and a mirror of the peers every other process holds, each under
a *remote* connection id (negative, so never one of the adapter's socket ids) that names the
process and the peer. :class:`~planktos.tracker.swarm.TrackerCore` runs on it unchanged:
it samples offer targets and finds answer targets among local and remote peers alike, and a
:class:`~planktos.tracker.swarm.Delivery` to a remote connection is relayed by the adapter
to the process that holds the socket (:meth:`ClusterStore.remote_target` says where).

Every change the core makes to a local peer (join, leave, completion) is reported as a
:class:`MemberEvent` to ``on_change``, for the I/O layer (:mod:`.redis_cluster`) to publish;
the events other processes publish are applied with :meth:`ClusterStore.apply`. Events are
idempotent "set" operations (this peer is present with this flag / absent), so a mirror that
starts from any snapshot taken after it subscribed, then applies every later event in order,
ends in the same state as the processes it mirrors.

Conflicts: a peer id held by a local socket wins over the same id reported by another
process (the core refuses a second connection for one peer id, in any swarm, here as in a
lone process: :meth:`ClusterStore.held_elsewhere`); between two remote processes, the last
join wins, and a process's leave removes only its own entry.
"""

from __future__ import annotations

import enum
import itertools
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from planktos.tracker.swarm import (
    ConnectionId,
    Delivery,
    MemorySwarmStore,
    PeerEntry,
    SwarmCounts,
)

ProcessId = str
"""A tracker process's name in the cluster: random, fixed for the process's lifetime."""


class MemberOp(enum.Enum):
    """What happened to a peer of the process that reports it."""

    JOIN = "J"  # present; ``complete`` gives its state (also used to restate a peer)
    LEAVE = "L"
    COMPLETE = "C"  # an incomplete peer completed: counts one download


@dataclass(frozen=True, slots=True)
class MemberEvent:
    """One change to one peer held by process ``process``."""

    op: MemberOp
    process: ProcessId
    info_hash: bytes
    peer_id: bytes
    complete: bool = False


@dataclass(frozen=True, slots=True)
class RemotePeer:
    """Where a remote connection id leads: the process holding the socket, and the peer."""

    process: ProcessId
    info_hash: bytes
    peer_id: bytes


class TrackerCluster(Protocol):
    """What the adapter needs from a cluster link (:class:`.redis_cluster.RedisCluster`)."""

    @property
    def store(self) -> ClusterStore:
        """The store the core must use: local peers plus the mirror."""
        ...

    def bind(self, send: Callable[[ConnectionId, bytes], Awaitable[None]]) -> None:
        """Give the link the adapter's way to send an encoded message to a local socket."""
        ...

    def relay(self, delivery: Delivery) -> bool:
        """Forward a delivery for a remote peer; False if its connection is local."""
        ...

    def stats(self) -> dict[str, object]:
        """What ``/stats`` shows about the link."""
        ...

    async def start(self) -> None:
        """Join the cluster (raise a PlanktosError if it cannot)."""
        ...

    async def close(self) -> None:
        """Leave the cluster."""
        ...


class ClusterStore:
    """A :class:`SwarmStore` over this process's peers plus a mirror of the other processes'."""

    def __init__(
        self,
        process: ProcessId,
        on_change: Callable[[MemberEvent], None],
        rng: random.Random | None = None,
    ) -> None:
        self.process = process
        self._on_change = on_change
        self._memory = MemorySwarmStore(rng)
        self._remote: dict[ConnectionId, RemotePeer] = {}
        self._by_process: dict[ProcessId, dict[tuple[bytes, bytes], ConnectionId]] = {}
        self._remote_ids = itertools.count(-1, -1)
        self._remote_peer_ids: dict[bytes, int] = {}  # mirrored entries per peer id

    # -- the SwarmStore the core uses -----------------------------------------------------

    def find_peer(self, info_hash: bytes, peer_id: bytes) -> PeerEntry | None:
        return self._memory.find_peer(info_hash, peer_id)

    def add_peer(
        self, info_hash: bytes, peer_id: bytes, connection: ConnectionId, complete: bool
    ) -> None:
        self._memory.add_peer(info_hash, peer_id, connection, complete)
        self._report(MemberOp.JOIN, info_hash, peer_id, complete)

    def remove_peer(self, info_hash: bytes, peer_id: bytes) -> None:
        peer = self._memory.find_peer(info_hash, peer_id)
        if peer is None:
            return
        if peer.connection in self._remote:
            self._forget_remote(peer.connection)
            return
        self._memory.remove_peer(info_hash, peer_id)
        self._report(MemberOp.LEAVE, info_hash, peer_id, False)

    def mark_complete(self, info_hash: bytes, peer_id: bytes) -> None:
        peer = self._memory.find_peer(info_hash, peer_id)
        if peer is None or peer.complete:
            return
        self._memory.mark_complete(info_hash, peer_id)
        if peer.connection not in self._remote:
            self._report(MemberOp.COMPLETE, info_hash, peer_id, True)

    def sample_peers(self, info_hash: bytes, count: int, exclude: bytes) -> list[PeerEntry]:
        return self._memory.sample_peers(info_hash, count, exclude)

    def counts(self, info_hash: bytes) -> SwarmCounts:
        return self._memory.counts(info_hash)

    def swarm_sizes(self) -> dict[bytes, int]:
        return self._memory.swarm_sizes()

    def held_elsewhere(self, peer_id: bytes) -> bool:
        return peer_id in self._remote_peer_ids

    # -- the mirror ---------------------------------------------------------------------

    def apply(self, event: MemberEvent) -> None:
        """Apply an event another process published (this process's own are ignored)."""
        if event.process == self.process:
            return
        key = (event.info_hash, event.peer_id)
        existing = self._memory.find_peer(event.info_hash, event.peer_id)
        if existing is not None and existing.connection not in self._remote:
            return  # a local socket holds this peer id: it wins
        mine = existing is not None and self._remote[existing.connection].process == event.process
        if event.op is MemberOp.LEAVE:
            if existing is not None and mine:
                self._forget_remote(existing.connection)
        elif event.op is MemberOp.COMPLETE:
            if existing is not None and mine:
                self._memory.mark_complete(event.info_hash, event.peer_id)
        elif existing is None or existing.complete != event.complete or not mine:
            if existing is not None:
                self._forget_remote(existing.connection)
            connection = next(self._remote_ids)
            self._remote[connection] = RemotePeer(event.process, event.info_hash, event.peer_id)
            self._by_process.setdefault(event.process, {})[key] = connection
            self._memory.add_peer(event.info_hash, event.peer_id, connection, event.complete)
            ids = self._remote_peer_ids
            ids[event.peer_id] = ids.get(event.peer_id, 0) + 1

    def replace_process(self, process: ProcessId, peers: list[MemberEvent]) -> None:
        """Replace everything mirrored of ``process`` with a snapshot of its peers."""
        self.drop_process(process)
        for event in peers:
            self.apply(event)

    def drop_process(self, process: ProcessId) -> int:
        """Forget every peer of a process that left or died; returns how many there were."""
        connections = list(self._by_process.get(process, {}).values())
        for connection in connections:
            self._forget_remote(connection)
        return len(connections)

    def drop_remote(self) -> int:
        """Forget every remote peer (this process is cut off from the others)."""
        return sum(self.drop_process(process) for process in list(self._by_process))

    def remote_processes(self) -> set[ProcessId]:
        """Processes of which at least one peer is mirrored."""
        return set(self._by_process)

    def remote_target(self, connection: ConnectionId) -> RemotePeer | None:
        """The process and peer behind a remote connection id; None for a local one."""
        return self._remote.get(connection)

    def local_peers(self) -> Iterator[MemberEvent]:
        """This process's peers as JOIN events, to restate them after a reconnect."""
        for info_hash, peer_id, connection, complete in self._memory.peers():
            if connection not in self._remote:
                yield MemberEvent(MemberOp.JOIN, self.process, info_hash, peer_id, complete)

    def _forget_remote(self, connection: ConnectionId) -> None:
        target = self._remote.pop(connection)
        peers = self._by_process[target.process]
        del peers[(target.info_hash, target.peer_id)]
        if not peers:
            del self._by_process[target.process]
        self._memory.remove_peer(target.info_hash, target.peer_id)
        left = self._remote_peer_ids[target.peer_id] - 1
        if left:
            self._remote_peer_ids[target.peer_id] = left
        else:
            del self._remote_peer_ids[target.peer_id]

    def _report(self, op: MemberOp, info_hash: bytes, peer_id: bytes, complete: bool) -> None:
        self._on_change(MemberEvent(op, self.process, info_hash, peer_id, complete))
