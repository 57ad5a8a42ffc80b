"""Swarm logic of the WebSocket tracker: requests in, messages to deliver out. No I/O.

:class:`TrackerCore` takes the text of each message a connection sends
(:meth:`TrackerCore.receive`) and returns the :class:`Delivery` list the adapter must send:
the reply to the sender, the offers forwarded to other peers, the answer forwarded to the
offerer. It follows bittorrent-tracker (``server.js`` ``_onWebSocketRequest``,
``lib/server/swarm.js``):

- ``started`` joins the swarm (already in it: an update); ``left == 0`` joins as complete.
- an update (no event) from a peer not in the swarm joins it; ``left == 0`` completes it.
- ``completed`` marks the peer complete (joining it first if needed).
- ``stopped`` leaves the swarm; a socket that closes leaves every swarm it joined.
- each offer goes to one other peer, drawn at random without the sender, at most
  ``min(numwant, len(offers))`` of them; an answer goes to ``to_peer_id`` if it is still in
  the swarm (else it is dropped, as bittorrent-tracker does) and gets no reply.

Storage sits behind :class:`SwarmStore` (bittorrent-tracker's ``createSwarm``/``getSwarm``
seam) so that a store shared by several processes can replace :class:`MemorySwarmStore`.
Peers are addressed by connection, not by peer id: bittorrent-tracker's client shares one
socket per tracker URL among all its torrents, and a page may run several clients on it.

Rules bittorrent-tracker lacks, because a client's mistake (or malice) must not change
anything for others:

- A peer id belongs to the connection that first joined a swarm with it, in every swarm of
  the tracker, until that connection closes; any other connection announcing it, in any
  swarm, is refused. Every offer a peer sends carries its peer id to another peer, so peer
  ids are not secret: were they scoped per swarm, anyone who learned one could announce it
  in another swarm before its owner, lock the owner out of that swarm and receive the
  answers meant for it. With ``--redis``, an id held on another process counts too. When
  the connection closes, its ids stay reserved for ``peer_id_grace_s`` to connections from
  the same address, so that nobody can take them while their browser reconnects (a
  WebTorrent client keeps its peer id, and reconnects after 10 to 15 s).
- One connection may join at most ``max_swarms_per_connection`` swarms and use as many
  peer ids.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from planktos.tracker.protocol import (
    AnnounceRequest,
    Event,
    ScrapeRequest,
    TrackerLimits,
    TrackerProtocolError,
    announce_reply,
    answer_message,
    failure_message,
    offer_message,
    parse_request,
    scrape_reply,
)

ConnectionId = int
"""The adapter's name for one open socket."""


@dataclass(frozen=True, slots=True)
class PeerEntry:
    """One peer of one swarm, as a store reports it."""

    peer_id: bytes
    connection: ConnectionId
    complete: bool


@dataclass(frozen=True, slots=True)
class SwarmCounts:
    """Seeders, leechers, and completions seen since the swarm last had a peer (BEP 48)."""

    complete: int = 0
    incomplete: int = 0
    downloaded: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message for the adapter to send on one connection."""

    connection: ConnectionId
    message: dict[str, object]


class SwarmStore(Protocol):
    """Where swarms live. Swarms exist while they have peers."""

    def find_peer(self, info_hash: bytes, peer_id: bytes) -> PeerEntry | None:
        """The peer with this id in this swarm, if any."""
        ...

    def add_peer(
        self, info_hash: bytes, peer_id: bytes, connection: ConnectionId, complete: bool
    ) -> None:
        """Put a peer that is not in the swarm into it, creating the swarm if needed."""
        ...

    def remove_peer(self, info_hash: bytes, peer_id: bytes) -> None:
        """Take a peer out of the swarm, if present; forget the swarm once empty."""
        ...

    def mark_complete(self, info_hash: bytes, peer_id: bytes) -> None:
        """Turn an incomplete peer into a complete one and count one download."""
        ...

    def sample_peers(self, info_hash: bytes, count: int, exclude: bytes) -> list[PeerEntry]:
        """Up to ``count`` distinct peers drawn at random, never the one named ``exclude``."""
        ...

    def counts(self, info_hash: bytes) -> SwarmCounts:
        """Counts of one swarm (all zero for an unknown one)."""
        ...

    def swarm_sizes(self) -> dict[bytes, int]:
        """Number of peers of every swarm."""
        ...

    def held_elsewhere(self, peer_id: bytes) -> bool:
        """Whether another tracker process holds a peer with this id, in any swarm."""
        ...


class _Peer:
    __slots__ = ("complete", "connection", "position")

    def __init__(self, connection: ConnectionId, complete: bool, position: int) -> None:
        self.connection = connection
        self.complete = complete
        self.position = position  # index in _Swarm.order


class _Swarm:
    __slots__ = ("complete", "downloaded", "order", "peers")

    def __init__(self) -> None:
        self.peers: dict[bytes, _Peer] = {}
        self.order: list[bytes] = []  # peer ids, for O(count) random sampling
        self.complete = 0
        self.downloaded = 0


class MemorySwarmStore:
    """Swarms in this process's memory; O(1) join and leave, O(count) sampling."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._swarms: dict[bytes, _Swarm] = {}
        self._rng = rng or random.Random()

    def find_peer(self, info_hash: bytes, peer_id: bytes) -> PeerEntry | None:
        swarm = self._swarms.get(info_hash)
        peer = swarm.peers.get(peer_id) if swarm is not None else None
        if peer is None:
            return None
        return PeerEntry(peer_id, peer.connection, peer.complete)

    def add_peer(
        self, info_hash: bytes, peer_id: bytes, connection: ConnectionId, complete: bool
    ) -> None:
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            swarm = self._swarms[info_hash] = _Swarm()
        if peer_id in swarm.peers:
            raise ValueError(f"peer {peer_id.hex()} is already in swarm {info_hash.hex()}")
        swarm.peers[peer_id] = _Peer(connection, complete, len(swarm.order))
        swarm.order.append(peer_id)
        swarm.complete += complete

    def remove_peer(self, info_hash: bytes, peer_id: bytes) -> None:
        swarm = self._swarms.get(info_hash)
        peer = swarm.peers.pop(peer_id, None) if swarm is not None else None
        if swarm is None or peer is None:
            return
        swarm.complete -= peer.complete
        last = swarm.order.pop()
        if last != peer_id:  # move the last peer into the hole
            swarm.order[peer.position] = last
            swarm.peers[last].position = peer.position
        if not swarm.peers:
            del self._swarms[info_hash]

    def mark_complete(self, info_hash: bytes, peer_id: bytes) -> None:
        swarm = self._swarms.get(info_hash)
        peer = swarm.peers.get(peer_id) if swarm is not None else None
        if swarm is None or peer is None or peer.complete:
            return
        peer.complete = True
        swarm.complete += 1
        swarm.downloaded += 1

    def sample_peers(self, info_hash: bytes, count: int, exclude: bytes) -> list[PeerEntry]:
        swarm = self._swarms.get(info_hash)
        if swarm is None or count <= 0:
            return []
        # One extra draw covers the excluded peer, so the sample stays uniform.
        drawn = self._rng.sample(swarm.order, min(count + 1, len(swarm.order)))
        chosen = [peer_id for peer_id in drawn if peer_id != exclude][:count]
        peers = swarm.peers
        return [
            PeerEntry(peer_id, peers[peer_id].connection, peers[peer_id].complete)
            for peer_id in chosen
        ]

    def counts(self, info_hash: bytes) -> SwarmCounts:
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            return SwarmCounts()
        return SwarmCounts(swarm.complete, len(swarm.peers) - swarm.complete, swarm.downloaded)

    def swarm_sizes(self) -> dict[bytes, int]:
        return {info_hash: len(swarm.peers) for info_hash, swarm in self._swarms.items()}

    def held_elsewhere(self, peer_id: bytes) -> bool:
        return False  # one process: every peer's connection is the core's own

    def peers(self) -> Iterator[tuple[bytes, bytes, ConnectionId, bool]]:
        """Every peer of every swarm: (info hash, peer id, connection, complete)."""
        for info_hash, swarm in self._swarms.items():
            for peer_id, peer in swarm.peers.items():
                yield info_hash, peer_id, peer.connection, peer.complete


@dataclass(slots=True)
class TrackerCounters:
    """Totals since start: announces and scrapes served, offers and answers forwarded,
    failure reasons sent (including messages the adapter refused before parsing)."""

    announces: int = 0
    relayed: int = 0
    scrapes: int = 0
    failures: int = 0


class TrackerCore:
    """The tracker without sockets: feed it each message of each connection."""

    def __init__(
        self,
        *,
        limits: TrackerLimits | None = None,
        is_allowed: Callable[[bytes], bool] | None = None,
        store: SwarmStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or TrackerLimits()
        self.counters = TrackerCounters()
        self._is_allowed = is_allowed
        self._store: SwarmStore = store if store is not None else MemorySwarmStore()
        # (info_hash, peer_id) pairs each connection joined, to leave them when it closes.
        self._joined: dict[ConnectionId, list[tuple[bytes, bytes]]] = {}
        # Each peer id's connection (the first to join a swarm with it), and the reverse.
        self._owners: dict[bytes, ConnectionId] = {}
        self._owned: dict[ConnectionId, list[bytes]] = {}
        # The address of each connection that said it; peer ids of closed connections kept
        # for their address until a deadline, oldest first (one grace period for all).
        self._addresses: dict[ConnectionId, str] = {}
        self._reserved: dict[bytes, tuple[str, float]] = {}
        self._clock = clock

    def receive(self, connection: ConnectionId, text: str) -> list[Delivery]:
        """Handle one text message; a bad one gets a failure reason and changes nothing."""
        try:
            request = parse_request(text, self.limits)
            if isinstance(request, AnnounceRequest):
                return self._announce(connection, request)
            return self._scrape(connection, request)
        except TrackerProtocolError as error:
            return [self.reject(connection, error)]

    def reject(self, connection: ConnectionId, error: TrackerProtocolError) -> Delivery:
        """Count a failure and build the message that tells the client about it."""
        self.counters.failures += 1
        return Delivery(connection, failure_message(error))

    def connected(self, connection: ConnectionId, address: str) -> None:
        """Note the address a connection comes from (for the peer id grace period)."""
        if address:
            self._addresses[connection] = address

    def disconnect(self, connection: ConnectionId) -> None:
        """Remove a closed connection's peers from every swarm they joined."""
        for info_hash, peer_id in self._joined.pop(connection, ()):
            peer = self._store.find_peer(info_hash, peer_id)
            if peer is not None and peer.connection == connection:
                self._store.remove_peer(info_hash, peer_id)
        address = self._addresses.pop(connection, "")
        until = self._clock() + self.limits.peer_id_grace_s
        self._drop_expired()
        for peer_id in self._owned.pop(connection, ()):
            del self._owners[peer_id]
            if address:
                self._reserved.pop(peer_id, None)  # re-inserted last: the dict stays in order
                self._reserved[peer_id] = (address, until)

    def stats(self) -> dict[str, object]:
        """Swarm sizes and the counters, for ``/stats`` and the benchmarks."""
        sizes = self._store.swarm_sizes()
        return {
            "swarms": len(sizes),
            "peers": sum(sizes.values()),
            "peers_per_swarm": {info_hash.hex(): size for info_hash, size in sizes.items()},
            "announces": self.counters.announces,
            "relayed": self.counters.relayed,
            "scrapes": self.counters.scrapes,
            "failures": self.counters.failures,
        }

    def _announce(self, connection: ConnectionId, request: AnnounceRequest) -> list[Delivery]:
        info_hash, peer_id = request.info_hash, request.peer_id
        self._check_allowed(info_hash, "announce")
        store = self._store
        peer = store.find_peer(info_hash, peer_id)
        if peer is not None and peer.connection != connection:
            raise TrackerProtocolError(
                "peer_id",
                "already in this swarm on another connection",
                action="announce",
                info_hash=info_hash,
            )
        owner = self._owners.get(peer_id)
        if owner != connection and (owner is not None or store.held_elsewhere(peer_id)):
            raise TrackerProtocolError(
                "peer_id",
                "in use by another connection; a peer id is its first connection's until "
                "that closes",
                action="announce",
                info_hash=info_hash,
            )
        if owner is None and peer_id in self._reserved:
            self._check_reservation(connection, peer_id, info_hash)
        if request.event is Event.STOPPED:
            if peer is not None:
                store.remove_peer(info_hash, peer_id)
                self._forget(connection, info_hash, peer_id)
        elif peer is None:
            self._join(connection, request)
        elif not peer.complete and (request.event is Event.COMPLETED or request.left == 0):
            store.mark_complete(info_hash, peer_id)
        self.counters.announces += 1

        deliveries = []
        if request.answer is None:  # bittorrent-tracker does not reply to an answer
            counts = store.counts(info_hash)
            reply = announce_reply(
                info_hash, counts.complete, counts.incomplete, self.limits.interval_s
            )
            deliveries.append(Delivery(connection, reply))
        if request.offers:
            wanted = min(request.numwant, len(request.offers))
            targets = store.sample_peers(info_hash, wanted, exclude=peer_id)
            for target, offer in zip(targets, request.offers, strict=False):
                message = offer_message(info_hash, peer_id, offer)
                deliveries.append(Delivery(target.connection, message))
            self.counters.relayed += len(targets)
        answer = request.answer
        if answer is not None and answer.to_peer_id != peer_id:
            offerer = store.find_peer(info_hash, answer.to_peer_id)
            if offerer is not None:
                message = answer_message(info_hash, peer_id, answer)
                deliveries.append(Delivery(offerer.connection, message))
                self.counters.relayed += 1
        return deliveries

    def _join(self, connection: ConnectionId, request: AnnounceRequest) -> None:
        joined = self._joined.get(connection)
        if joined is None:
            joined = self._joined[connection] = []
        if len(joined) >= self.limits.max_swarms_per_connection:
            raise TrackerProtocolError(
                "info_hash",
                f"this connection is already in {len(joined)} swarms; leave one first",
                action="announce",
                info_hash=request.info_hash,
            )
        peer_id = request.peer_id
        if peer_id not in self._owners:
            owned = self._owned.get(connection)
            if owned is None:
                owned = self._owned[connection] = []
            if len(owned) >= self.limits.max_swarms_per_connection:
                raise TrackerProtocolError(
                    "peer_id",
                    f"this connection already uses {len(owned)} peer ids; reuse one",
                    action="announce",
                    info_hash=request.info_hash,
                )
            owned.append(peer_id)
            self._owners[peer_id] = connection
            self._reserved.pop(peer_id, None)  # its owner is back
        completed = request.event is Event.COMPLETED
        seeder = request.left == 0 and not completed
        self._store.add_peer(request.info_hash, request.peer_id, connection, seeder)
        if completed:
            self._store.mark_complete(request.info_hash, request.peer_id)
        joined.append((request.info_hash, request.peer_id))

    def _check_reservation(
        self, connection: ConnectionId, peer_id: bytes, info_hash: bytes
    ) -> None:
        """Refuse a peer id whose connection closed moments ago to other addresses."""
        address, until = self._reserved[peer_id]
        if until <= self._clock():
            self._drop_expired()
        elif self._addresses.get(connection) != address:
            raise TrackerProtocolError(
                "peer_id",
                "its connection closed moments ago; it is kept for its owner to reconnect",
                action="announce",
                info_hash=info_hash,
            )

    def _drop_expired(self) -> None:
        now = self._clock()
        reserved = self._reserved
        while reserved:
            peer_id, (_, until) = next(iter(reserved.items()))
            if until > now:
                return
            del reserved[peer_id]

    def _forget(self, connection: ConnectionId, info_hash: bytes, peer_id: bytes) -> None:
        joined = self._joined.get(connection)
        if joined is not None and (info_hash, peer_id) in joined:
            joined.remove((info_hash, peer_id))
            if not joined:
                del self._joined[connection]

    def _scrape(self, connection: ConnectionId, request: ScrapeRequest) -> list[Delivery]:
        counts = {}
        for info_hash in request.info_hashes:
            self._check_allowed(info_hash, "scrape")
            swarm = self._store.counts(info_hash)
            counts[info_hash] = (swarm.complete, swarm.incomplete, swarm.downloaded)
        self.counters.scrapes += 1
        return [Delivery(connection, scrape_reply(counts, self.limits.interval_s))]

    def _check_allowed(self, info_hash: bytes, action: str) -> None:
        if self._is_allowed is not None and not self._is_allowed(info_hash):
            raise TrackerProtocolError(
                "info_hash", "not served by this tracker", action=action, info_hash=info_hash
            )
