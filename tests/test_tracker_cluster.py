"""The cluster mirror without Redis (planktos.tracker.cluster): events in, swarms out."""

from __future__ import annotations

import random

from planktos.tracker.cluster import ClusterStore, MemberEvent, MemberOp
from planktos.tracker.swarm import SwarmCounts, TrackerCore
from tests.test_tracker_swarm import HASH_A, HASH_B, SQUATTED, announce, answer, pid


def make_store(process: str = "here") -> tuple[ClusterStore, list[MemberEvent]]:
    events: list[MemberEvent] = []
    return ClusterStore(process, events.append, random.Random(7)), events


def join(process: str, peer: int, complete: bool = False) -> MemberEvent:
    return MemberEvent(MemberOp.JOIN, process, HASH_A, pid(peer), complete)


def test_local_changes_are_reported_and_remote_ones_mirrored() -> None:
    store, events = make_store()
    core = TrackerCore(store=store)
    core.receive(1, announce(1))
    core.receive(1, announce(1, event="completed", left=0))
    assert events == [
        MemberEvent(MemberOp.JOIN, "here", HASH_A, pid(1), False),
        MemberEvent(MemberOp.COMPLETE, "here", HASH_A, pid(1), True),
    ]
    store.apply(join("there", 2))
    store.apply(MemberEvent(MemberOp.COMPLETE, "there", HASH_A, pid(2)))
    assert store.counts(HASH_A) == SwarmCounts(complete=2, incomplete=0, downloaded=2)
    assert len(events) == 2  # applying remote events reports nothing
    core.disconnect(1)
    assert events[-1] == MemberEvent(MemberOp.LEAVE, "here", HASH_A, pid(1), False)
    store.apply(MemberEvent(MemberOp.LEAVE, "there", HASH_A, pid(2)))
    assert store.swarm_sizes() == {}


def test_offers_to_remote_peers_name_their_process() -> None:
    store, _ = make_store()
    core = TrackerCore(store=store)
    store.apply(join("there", 2))
    deliveries = core.receive(1, announce(1, offers=3))
    assert [d.message["action"] for d in deliveries] == ["announce", "announce"]
    reply, offer = deliveries
    assert reply.connection == 1 and reply.message["incomplete"] == 2
    target = store.remote_target(offer.connection)
    assert target is not None and offer.connection < 0
    assert (target.process, target.info_hash, target.peer_id) == ("there", HASH_A, pid(2))
    assert store.remote_target(reply.connection) is None  # a local socket


def test_answer_from_a_local_peer_goes_to_the_remote_offerer() -> None:
    store, _ = make_store()
    core = TrackerCore(store=store)
    store.apply(join("there", 2))
    core.receive(1, announce(1))
    (delivery,) = core.receive(1, answer(1, 2, "2/0"))
    target = store.remote_target(delivery.connection)
    assert target is not None and target.peer_id == pid(2)
    assert (
        delivery.message["offer_id"] == "2/0"
        and delivery.message["peer_id"] == "-PK0001-000000000001"
    )


def test_a_local_socket_wins_over_the_same_peer_id_elsewhere() -> None:
    store, _ = make_store()
    core = TrackerCore(store=store)
    core.receive(1, announce(1))
    store.apply(join("there", 1, complete=True))
    peer = store.find_peer(HASH_A, pid(1))
    assert peer is not None and peer.connection == 1 and not peer.complete
    store.apply(MemberEvent(MemberOp.LEAVE, "there", HASH_A, pid(1)))
    assert store.find_peer(HASH_A, pid(1)) == peer


def test_a_remote_peer_id_is_refused_locally_as_on_another_connection() -> None:
    store, events = make_store()
    core = TrackerCore(store=store)
    store.apply(join("there", 1))
    (failure,) = core.receive(5, announce(1))
    assert "already in this swarm on another connection" in str(failure.message["failure reason"])
    assert events == []


def test_between_remote_processes_the_last_join_wins() -> None:
    store, _ = make_store()
    store.apply(join("first", 3))
    store.apply(join("second", 3))
    peer = store.find_peer(HASH_A, pid(3))
    assert peer is not None
    target = store.remote_target(peer.connection)
    assert target is not None and target.process == "second"
    store.apply(MemberEvent(MemberOp.LEAVE, "first", HASH_A, pid(3)))  # not first's any more
    assert store.find_peer(HASH_A, pid(3)) == peer
    assert store.remote_processes() == {"second"}


def test_events_are_idempotent_and_own_events_ignored() -> None:
    store, _ = make_store()
    for _ in range(3):
        store.apply(join("there", 2))
    assert store.counts(HASH_A) == SwarmCounts(complete=0, incomplete=1, downloaded=0)
    store.apply(join("there", 2, complete=True))  # a restatement changes the flag only
    assert store.counts(HASH_A) == SwarmCounts(complete=1, incomplete=0, downloaded=0)
    store.apply(join("here", 9))
    assert store.find_peer(HASH_A, pid(9)) is None


def test_dropping_a_process_forgets_exactly_its_peers() -> None:
    store, events = make_store()
    core = TrackerCore(store=store)
    core.receive(1, announce(1))
    for n in range(2, 6):
        store.apply(join("dead", n))
    store.apply(join("alive", 6))
    assert core.stats()["peers"] == 6
    assert store.drop_process("dead") == 4
    assert store.drop_process("dead") == 0
    assert core.stats()["peers"] == 2
    assert store.remote_processes() == {"alive"}
    # Offers now only reach the live remote peer.
    deliveries = core.receive(1, announce(1, offers=5, event=None))
    (offer,) = deliveries[1:]
    target = store.remote_target(offer.connection)
    assert target is not None and target.process == "alive"
    assert store.drop_remote() == 1
    assert list(store.local_peers()) == [join("here", 1)]
    assert len(events) == 1


def test_replace_process_loads_a_snapshot() -> None:
    store, _ = make_store()
    store.apply(join("there", 2))
    store.apply(join("there", 3))
    store.replace_process("there", [join("there", 3, complete=True), join("there", 4)])
    assert store.find_peer(HASH_A, pid(2)) is None
    assert store.counts(HASH_A) == SwarmCounts(complete=1, incomplete=1, downloaded=0)


def test_a_peer_id_held_on_another_process_cannot_be_squatted_in_another_swarm() -> None:
    store, events = make_store()
    core = TrackerCore(store=store)
    store.apply(join("there", 1))  # the victim, in swarm A, on another process
    (failure,) = core.receive(5, announce(1, HASH_B))
    assert failure.message == SQUATTED
    assert events == [] and store.swarm_sizes() == {HASH_A: 1}
    store.apply(join("there", 1))  # restated: still one entry
    store.drop_process("there")  # the victim's process is gone: its id is free
    (reply,) = core.receive(5, announce(1, HASH_B))
    assert "failure reason" not in reply.message
