"""Swarm logic without sockets (planktos.tracker.swarm): text in, deliveries out."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from planktos.tracker.protocol import TrackerLimits
from planktos.tracker.swarm import Delivery, MemorySwarmStore, SwarmCounts, TrackerCore

HASH_A = b"A" * 20
HASH_B = bytes(range(200, 220))


def pid(n: int) -> bytes:
    return b"-PK0001-" + f"{n:012d}".encode()


def binary(value: bytes) -> str:
    return value.decode("latin-1")


def announce(peer: int, info_hash: bytes = HASH_A, offers: int = 0, **fields: Any) -> str:
    message: dict[str, Any] = {
        "action": "announce",
        "info_hash": binary(info_hash),
        "peer_id": binary(pid(peer)),
        "left": 10,
        "event": "started",
    }
    if offers:
        message["numwant"] = offers
        message["offers"] = [
            {"offer": {"type": "offer", "sdp": f"sdp {peer}/{i}"}, "offer_id": f"{peer}/{i}"}
            for i in range(offers)
        ]
    message.update(fields)
    return json.dumps({k: v for k, v in message.items() if v is not None})


def answer(peer: int, to_peer: int, offer_id: str, info_hash: bytes = HASH_A) -> str:
    return json.dumps(
        {
            "action": "announce",
            "info_hash": binary(info_hash),
            "peer_id": binary(pid(peer)),
            "to_peer_id": binary(pid(to_peer)),
            "offer_id": offer_id,
            "answer": {"type": "answer", "sdp": f"answer from {peer}"},
        }
    )


def scrape(*hashes: bytes) -> str:
    return json.dumps({"action": "scrape", "info_hash": [binary(h) for h in hashes]})


def only(deliveries: list[Delivery]) -> Delivery:
    assert len(deliveries) == 1, deliveries
    return deliveries[0]


def counts(core: TrackerCore, info_hash: bytes = HASH_A) -> tuple[int, int]:
    reply = only(core.receive(999, scrape(info_hash))).message
    files: Any = reply["files"]
    entry = files[binary(info_hash)]
    return entry["complete"], entry["incomplete"]


@pytest.fixture
def core() -> TrackerCore:
    return TrackerCore(store=MemorySwarmStore(random.Random(7)))


# -- announces and counts ---------------------------------------------------------------


def test_started_joins_and_replies(core: TrackerCore) -> None:
    reply = only(core.receive(1, announce(1)))
    assert reply == Delivery(
        1,
        {
            "action": "announce",
            "interval": 120,
            "info_hash": binary(HASH_A),
            "complete": 0,
            "incomplete": 1,
        },
    )
    seeder = only(core.receive(2, announce(2, left=0))).message
    assert (seeder["complete"], seeder["incomplete"]) == (1, 1)


def test_completed_moves_a_peer_to_complete_once(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(2, announce(2))
    reply = only(core.receive(1, announce(1, event="completed", left=0))).message
    assert (reply["complete"], reply["incomplete"]) == (1, 1)
    core.receive(1, announce(1, event="completed", left=0))
    assert counts(core) == (1, 1)
    downloaded = only(core.receive(9, scrape(HASH_A))).message["files"]
    assert downloaded == {binary(HASH_A): {"complete": 1, "incomplete": 1, "downloaded": 1}}


def test_update_with_left_zero_completes(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(1, announce(1, event=None, left=0))
    assert counts(core) == (1, 0)


def test_update_from_unknown_peer_joins(core: TrackerCore) -> None:
    core.receive(1, announce(1, event=None))
    assert counts(core) == (0, 1)


def test_completed_from_unknown_peer_joins_as_complete(core: TrackerCore) -> None:
    core.receive(1, announce(1, event="completed", left=None))
    assert counts(core) == (1, 0)


def test_started_twice_counts_once(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(1, announce(1))
    assert counts(core) == (0, 1)


def test_complete_never_goes_back(core: TrackerCore) -> None:
    core.receive(1, announce(1, left=0))
    core.receive(1, announce(1, event=None, left=50))
    assert counts(core) == (1, 0)


def test_stopped_leaves(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(2, announce(2, left=0))
    reply = only(core.receive(2, announce(2, event="stopped"))).message
    assert (reply["complete"], reply["incomplete"]) == (0, 1)
    assert core.stats()["peers"] == 1


def test_stopped_from_unknown_peer_changes_nothing(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    reply = only(core.receive(2, announce(2, event="stopped"))).message
    assert (reply["complete"], reply["incomplete"]) == (0, 1)


def test_disconnect_leaves_every_swarm_of_the_connection(core: TrackerCore) -> None:
    core.receive(1, announce(1, HASH_A))
    core.receive(1, announce(1, HASH_B))
    core.receive(1, announce(5, HASH_B))  # a second client sharing the socket
    core.receive(2, announce(2, HASH_B))
    core.disconnect(1)
    stats = core.stats()
    assert stats["swarms"] == 1
    assert stats["peers_per_swarm"] == {HASH_B.hex(): 1}
    core.disconnect(1)  # twice is harmless
    core.disconnect(42)  # never seen


def test_disconnect_after_stopped_and_rejoin(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(1, announce(1, event="stopped"))
    core.receive(1, announce(1))
    core.disconnect(1)
    assert core.stats()["peers"] == 0


# -- offers and answers -----------------------------------------------------------------


def test_offers_go_to_other_peers_with_the_senders_peer_id(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(2, announce(2))
    deliveries = core.receive(3, announce(3, offers=5))
    assert deliveries[0].connection == 3
    assert deliveries[0].message["incomplete"] == 3
    relayed = deliveries[1:]
    assert sorted(d.connection for d in relayed) == [1, 2]
    for delivery in relayed:
        message = delivery.message
        assert message["peer_id"] == binary(pid(3))
        assert message["info_hash"] == binary(HASH_A)
        assert message["action"] == "announce"
    offer_ids = {d.message["offer_id"] for d in relayed}
    assert len(offer_ids) == 2  # each offer to one peer
    assert {d.message["offer"]["sdp"] for d in relayed} == {  # type: ignore[index]
        f"sdp {i}" for i in offer_ids
    }
    assert core.stats()["relayed"] == 2


def test_numwant_limits_the_offers_forwarded(core: TrackerCore) -> None:
    for peer in range(1, 6):
        core.receive(peer, announce(peer))
    deliveries = core.receive(9, announce(9, offers=4, numwant=2))
    assert len(deliveries) == 1 + 2
    assert len({d.connection for d in deliveries[1:]}) == 2


def test_offers_never_go_back_to_the_sender(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    for _ in range(50):
        deliveries = core.receive(2, announce(2, offers=3))
        assert [d.connection for d in deliveries] == [2, 1]


def test_offers_alone_in_a_swarm_go_nowhere(core: TrackerCore) -> None:
    assert [d.connection for d in core.receive(1, announce(1, offers=3))] == [1]


def test_peers_are_drawn_uniformly() -> None:
    core = TrackerCore(store=MemorySwarmStore(random.Random(1)))
    for peer in range(1, 11):
        core.receive(peer, announce(peer))
    drawn: Counter[int] = Counter()
    for _ in range(2000):
        deliveries = core.receive(1, announce(1, offers=1, event=None))
        drawn.update(d.connection for d in deliveries[1:])
    assert set(drawn) == set(range(2, 11))
    assert min(drawn.values()) > 150  # 2000 / 9 ≈ 222 each


def test_answer_goes_to_the_offerer_without_a_reply(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(2, announce(2))
    delivery = only(core.receive(2, answer(2, to_peer=1, offer_id="1/0")))
    assert delivery == Delivery(
        1,
        {
            "action": "announce",
            "answer": {"type": "answer", "sdp": "answer from 2"},
            "offer_id": "1/0",
            "peer_id": binary(pid(2)),
            "info_hash": binary(HASH_A),
        },
    )
    assert core.stats()["relayed"] == 1


def test_answer_to_a_gone_peer_is_dropped(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(2, announce(2))
    core.disconnect(1)
    assert core.receive(2, answer(2, to_peer=1, offer_id="1/0")) == []
    assert core.stats()["relayed"] == 0


def test_answer_joins_the_answerer_like_bittorrent_tracker(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(2, answer(2, to_peer=1, offer_id="1/0"))
    assert counts(core) == (0, 2)


def test_answer_to_oneself_is_dropped(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    assert core.receive(1, answer(1, to_peer=1, offer_id="x")) == []


# -- refusals ---------------------------------------------------------------------------


def test_malformed_message_gets_a_failure_and_changes_nothing(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    before = core.stats()
    delivery = only(core.receive(1, "{nope"))
    assert delivery == Delivery(1, {"failure reason": "message: not valid JSON"})
    after = core.stats()
    assert after["failures"] == 1
    assert {**after, "failures": 0} == before


def test_peer_id_held_by_another_connection_is_refused(core: TrackerCore) -> None:
    core.receive(1, announce(1))
    core.receive(3, announce(3))
    message = only(core.receive(2, announce(1, event="stopped"))).message
    assert message == {
        "failure reason": "peer_id: already in this swarm on another connection",
        "action": "announce",
        "info_hash": binary(HASH_A),
    }
    assert counts(core) == (0, 2)
    core.disconnect(2)  # must not take connection 1's peer with it
    assert counts(core) == (0, 2)
    # offers from connection 1 still go to 3, answers to peer 1 still go to connection 1
    assert [d.connection for d in core.receive(1, announce(1, offers=1, event=None))] == [1, 3]
    assert only(core.receive(3, answer(3, to_peer=1, offer_id="1/0"))).connection == 1


def test_is_allowed_filters_announces_and_scrapes() -> None:
    core = TrackerCore(is_allowed=lambda info_hash: info_hash == HASH_A)
    assert "failure reason" not in only(core.receive(1, announce(1, HASH_A))).message
    refused = only(core.receive(1, announce(1, HASH_B, offers=1))).message
    assert refused == {
        "failure reason": "info_hash: not served by this tracker",
        "action": "announce",
        "info_hash": binary(HASH_B),
    }
    refused = only(core.receive(1, scrape(HASH_A, HASH_B))).message
    assert refused["action"] == "scrape"
    assert refused["info_hash"] == binary(HASH_B)
    assert core.stats()["swarms"] == 1
    assert core.stats()["failures"] == 2


def test_swarms_per_connection_are_bounded() -> None:
    core = TrackerCore(limits=TrackerLimits(max_swarms_per_connection=2))
    core.receive(1, announce(1, bytes([1]) * 20))
    core.receive(1, announce(1, bytes([2]) * 20))
    refused = only(core.receive(1, announce(1, bytes([3]) * 20))).message
    assert "already in 2 swarms" in str(refused["failure reason"])
    core.receive(1, announce(1, bytes([2]) * 20, event="stopped"))
    assert "failure reason" not in only(core.receive(1, announce(1, bytes([3]) * 20))).message


# -- scrape and stats -------------------------------------------------------------------


def test_scrape_several_hashes_including_unknown(core: TrackerCore) -> None:
    core.receive(1, announce(1, HASH_A, left=0))
    core.receive(2, announce(2, HASH_A))
    reply = only(core.receive(3, scrape(HASH_A, HASH_B))).message
    assert reply == {
        "action": "scrape",
        "files": {
            binary(HASH_A): {"complete": 1, "incomplete": 1, "downloaded": 0},
            binary(HASH_B): {"complete": 0, "incomplete": 0, "downloaded": 0},
        },
        "flags": {"min_request_interval": 120},
    }
    assert core.stats()["swarms"] == 1  # scraping creates no swarm


def test_stats(core: TrackerCore) -> None:
    core.receive(1, announce(1, HASH_A))
    core.receive(2, announce(2, HASH_A, offers=2))
    core.receive(2, announce(2, HASH_B))
    core.receive(1, answer(1, to_peer=2, offer_id="2/0"))
    core.receive(3, scrape(HASH_A))
    core.receive(3, "[]")
    assert core.stats() == {
        "swarms": 2,
        "peers": 3,
        "peers_per_swarm": {HASH_A.hex(): 2, HASH_B.hex(): 1},
        "announces": 4,
        "relayed": 2,
        "scrapes": 1,
        "failures": 1,
    }


def test_interval_comes_from_the_limits() -> None:
    core = TrackerCore(limits=TrackerLimits(interval_s=30))
    assert only(core.receive(1, announce(1))).message["interval"] == 30


# -- the in-memory store ----------------------------------------------------------------


def test_memory_store_join_leave_and_sample() -> None:
    store = MemorySwarmStore(random.Random(3))
    for n in range(6):
        store.add_peer(HASH_A, pid(n), connection=n, complete=n % 2 == 0)
    assert store.counts(HASH_A) == SwarmCounts(complete=3, incomplete=3, downloaded=0)
    with pytest.raises(ValueError, match="already in swarm"):
        store.add_peer(HASH_A, pid(0), connection=9, complete=False)
    store.remove_peer(HASH_A, pid(0))
    store.remove_peer(HASH_A, pid(3))
    store.remove_peer(HASH_A, pid(3))
    store.remove_peer(HASH_B, pid(3))
    assert store.counts(HASH_A) == SwarmCounts(complete=2, incomplete=2)
    left = {pid(n) for n in (1, 2, 4, 5)}
    for _ in range(20):
        sample = store.sample_peers(HASH_A, 3, exclude=pid(2))
        ids = [p.peer_id for p in sample]
        assert len(ids) == 3 == len(set(ids))
        assert set(ids) <= left - {pid(2)}
    assert store.sample_peers(HASH_A, 0, exclude=pid(1)) == []
    assert store.sample_peers(HASH_B, 3, exclude=pid(1)) == []
    assert len(store.sample_peers(HASH_A, 10, exclude=pid(99))) == 4
    store.mark_complete(HASH_A, pid(1))
    store.mark_complete(HASH_A, pid(1))
    store.mark_complete(HASH_A, pid(99))
    assert store.counts(HASH_A) == SwarmCounts(complete=3, incomplete=1, downloaded=1)
    found = store.find_peer(HASH_A, pid(5))
    assert found is not None and found.connection == 5 and not found.complete
    for peer_id in left:
        store.remove_peer(HASH_A, peer_id)
    assert store.swarm_sizes() == {}
    assert store.counts(HASH_A) == SwarmCounts()


SQUATTED = {
    "failure reason": "peer_id: in use by another connection; a peer id is its first "
    "connection's until that closes",
    "action": "announce",
    "info_hash": binary(HASH_B),
}


def test_a_learned_peer_id_cannot_be_squatted_in_another_swarm(core: TrackerCore) -> None:
    core.receive(1, announce(1))  # the victim, in swarm A
    core.receive(3, announce(3, HASH_B))  # an honest peer of swarm B
    # Mallory (connection 2) learned peer 1's id from an offer and announces it in swarm B.
    assert only(core.receive(2, announce(1, HASH_B))).message == SQUATTED
    assert only(core.receive(2, announce(1, HASH_B, event=None))).message == SQUATTED
    forged = answer(1, to_peer=3, offer_id="3/0", info_hash=HASH_B)
    assert only(core.receive(2, forged)).message == SQUATTED
    assert counts(core, HASH_B) == (0, 1)
    # The victim joins swarm B as usual, and answers meant for it reach it.
    assert "failure reason" not in only(core.receive(1, announce(1, HASH_B))).message
    offer = core.receive(1, announce(1, HASH_B, offers=1, event=None))
    assert [d.connection for d in offer] == [1, 3]
    assert only(core.receive(3, answer(3, to_peer=1, offer_id="1/0", info_hash=HASH_B))) == (
        Delivery(
            1,
            {
                "action": "announce",
                "answer": {"type": "answer", "sdp": "answer from 3"},
                "offer_id": "1/0",
                "peer_id": binary(pid(3)),
                "info_hash": binary(HASH_B),
            },
        )
    )
    # Once the victim's connection closes, its id is free again.
    core.disconnect(1)
    assert "failure reason" not in only(core.receive(2, announce(1, HASH_B))).message


def test_a_connection_uses_a_bounded_number_of_peer_ids() -> None:
    core = TrackerCore(limits=TrackerLimits(max_swarms_per_connection=2))
    for peer in (1, 2):
        core.receive(5, announce(peer))
        core.receive(5, announce(peer, event="stopped"))
    failure = only(core.receive(5, announce(3))).message["failure reason"]
    assert failure == "peer_id: this connection already uses 2 peer ids; reuse one"
    assert "failure reason" not in only(core.receive(5, announce(2))).message


def test_a_closed_connections_peer_id_waits_for_its_address_to_reconnect() -> None:
    now = [100.0]
    core = TrackerCore(limits=TrackerLimits(peer_id_grace_s=60), clock=lambda: now[0])
    core.connected(1, "192.0.2.1")  # the victim
    core.connected(2, "198.51.100.9")  # mallory, who learned its id
    core.receive(1, announce(1))
    core.disconnect(1)  # the victim's socket drops; its browser reconnects in 10-15 s
    refused = only(core.receive(2, announce(1, HASH_B))).message["failure reason"]
    assert refused == (
        "peer_id: its connection closed moments ago; it is kept for its owner to reconnect"
    )
    core.connected(3, "192.0.2.1")  # the victim is back: it takes its id again
    assert "failure reason" not in only(core.receive(3, announce(1, HASH_B))).message
    core.disconnect(3)
    now[0] += 61  # nobody came back within the grace period: the id is free
    assert "failure reason" not in only(core.receive(2, announce(1, HASH_B))).message
