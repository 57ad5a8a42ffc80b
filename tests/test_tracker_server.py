"""The tracker over real WebSockets: aiohttp server, aiohttp clients speaking WebTorrent.

SDPs are fake (no WebRTC here); everything else is what bittorrent-tracker's client sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientConnectionResetError, WSMsgType, web
from aiohttp.client_ws import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from planktos.tracker.protocol import TrackerLimits
from planktos.tracker.server import TrackerService, create_tracker_app, tracker_service

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

HASH_A = bytes(range(0xEC, 0x100))  # 20 bytes, all above 0x7f
HASH_B = b"planktos-test-hash-B"
TIMEOUT = 3.0


def binary(value: bytes) -> str:
    return value.decode("latin-1")


def fake_sdp(kind: str, owner: str, n: int) -> dict[str, str]:
    return {"type": kind, "sdp": f"v=0\r\no=- {owner}{n} 2 IN IP4 127.0.0.1\r\ns=-\r\n"}


class Peer:
    """One fake browser: a socket and a peer id."""

    def __init__(self, ws: ClientWebSocketResponse, name: str) -> None:
        self.ws = ws
        self.name = name
        self.peer_id = f"-WW0300-{name:>12}".encode()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def announce(
        self,
        info_hash: bytes = HASH_A,
        *,
        offers: int = 0,
        reply: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "action": "announce",
            "info_hash": binary(info_hash),
            "peer_id": binary(self.peer_id),
            "uploaded": 0,
            "downloaded": 0,
            "left": 1000,
            "event": "started",
        }
        if offers:
            message["numwant"] = offers
            message["offers"] = [
                {"offer": fake_sdp("offer", self.name, i), "offer_id": f"{self.name}-offer-{i}"}
                for i in range(offers)
            ]
        message.update(fields)
        await self.send({k: v for k, v in message.items() if v is not None})
        return await self.receive() if reply else {}

    async def answer(self, offer: dict[str, Any]) -> None:
        await self.send(
            {
                "action": "announce",
                "info_hash": offer["info_hash"],
                "peer_id": binary(self.peer_id),
                "to_peer_id": offer["peer_id"],
                "offer_id": offer["offer_id"],
                "answer": fake_sdp("answer", self.name, 0),
            }
        )

    async def scrape(self, *hashes: bytes) -> dict[str, Any]:
        await self.send({"action": "scrape", "info_hash": [binary(h) for h in hashes]})
        return await self.receive()

    async def receive(self) -> dict[str, Any]:
        message = await self.ws.receive(timeout=TIMEOUT)
        assert message.type is WSMsgType.TEXT, message
        data: dict[str, Any] = json.loads(message.data)
        return data

    async def nothing_pending(self) -> None:
        """Prove that nothing was sent to this peer: the next message is a scrape reply."""
        reply = await self.scrape(HASH_B)
        assert reply["action"] == "scrape" and "files" in reply, reply


@pytest.fixture
def make_peer(
    aiohttp_client: ClientFactory,
) -> Callable[..., Awaitable[Peer]]:
    """``await make_peer(name, app=None)``: a connected peer (one server per test)."""
    clients: dict[int, Client] = {}

    async def connect(name: str, app: web.Application | None = None, **kw: Any) -> Peer:
        if 0 not in clients:
            clients[0] = await aiohttp_client(app if app is not None else create_tracker_app())
        ws = await clients[0].ws_connect("/", **kw)
        return Peer(ws, name)

    return connect


PeerFactory = Callable[..., Awaitable[Peer]]


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(int(TIMEOUT / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    assert condition()


# -- conversations ----------------------------------------------------------------------


async def test_two_peers_offer_and_answer(make_peer: PeerFactory) -> None:
    alice = await make_peer("alice")
    bob = await make_peer("bob")
    reply = await alice.announce()
    assert reply == {
        "action": "announce",
        "interval": 120,
        "info_hash": binary(HASH_A),
        "complete": 0,
        "incomplete": 1,
    }
    reply = await bob.announce(offers=1)
    assert reply["incomplete"] == 2

    offer = await alice.receive()
    assert offer == {
        "action": "announce",
        "offer": fake_sdp("offer", "bob", 0),
        "offer_id": "bob-offer-0",
        "peer_id": binary(bob.peer_id),
        "info_hash": binary(HASH_A),
    }
    await alice.answer(offer)
    answer = await bob.receive()
    assert answer == {
        "action": "announce",
        "answer": fake_sdp("answer", "alice", 0),
        "offer_id": "bob-offer-0",
        "peer_id": binary(alice.peer_id),
        "info_hash": binary(HASH_A),
    }
    await alice.nothing_pending()  # no reply to an answer, as in bittorrent-tracker
    await bob.nothing_pending()


async def test_three_peers_each_offer_reaches_one_other_peer(make_peer: PeerFactory) -> None:
    alice, bob, carol = [await make_peer(n) for n in ("alice", "bob", "carol")]
    await alice.announce()
    await bob.announce()
    reply = await carol.announce(offers=5)
    assert reply["incomplete"] == 3
    offers = [await alice.receive(), await bob.receive()]
    assert {o["peer_id"] for o in offers} == {binary(carol.peer_id)}
    assert len({o["offer_id"] for o in offers}) == 2
    await alice.nothing_pending()
    await bob.nothing_pending()
    await carol.nothing_pending()  # never its own offers

    # Both answer; carol gets both answers, each naming its answerer.
    await alice.answer(offers[0])
    await bob.answer(offers[1])
    answers = [await carol.receive(), await carol.receive()]
    assert {a["peer_id"] for a in answers} == {binary(alice.peer_id), binary(bob.peer_id)}
    assert {a["offer_id"] for a in answers} == {o["offer_id"] for o in offers}


async def test_numwant_is_respected(make_peer: PeerFactory) -> None:
    peers = [await make_peer(f"p{i}") for i in range(4)]
    for peer in peers[:3]:
        await peer.announce()
    await peers[3].announce(offers=3, numwant=1)
    received = 0
    for peer in peers[:3]:
        reply = await peer.scrape(HASH_B)
        if reply["action"] == "announce":  # the offer came before the scrape reply
            assert reply["peer_id"] == binary(peers[3].peer_id)
            received += 1
            assert (await peer.receive())["action"] == "scrape"
    assert received == 1


async def test_events_change_the_counts(make_peer: PeerFactory) -> None:
    alice = await make_peer("alice")
    bob = await make_peer("bob")
    assert (await alice.announce())["incomplete"] == 1
    reply = await bob.announce(left=0)
    assert (reply["complete"], reply["incomplete"]) == (1, 1)
    reply = await alice.announce(event="completed", left=0)
    assert (reply["complete"], reply["incomplete"]) == (2, 0)
    reply = await bob.announce(event="stopped")
    assert (reply["complete"], reply["incomplete"]) == (1, 0)
    files = (await bob.scrape(HASH_A))["files"]
    assert files == {binary(HASH_A): {"complete": 1, "incomplete": 0, "downloaded": 1}}


async def test_scrape_single_and_multiple(make_peer: PeerFactory) -> None:
    alice = await make_peer("alice")
    bob = await make_peer("bob")
    await alice.announce(HASH_A)
    await bob.announce(HASH_A, left=0)
    await bob.announce(HASH_B)
    await alice.send({"action": "scrape", "info_hash": binary(HASH_A)})
    assert await alice.receive() == {
        "action": "scrape",
        "files": {binary(HASH_A): {"complete": 1, "incomplete": 1, "downloaded": 0}},
        "flags": {"min_request_interval": 120},
    }
    files = (await alice.scrape(HASH_A, HASH_B, b"x" * 20))["files"]
    assert files == {
        binary(HASH_A): {"complete": 1, "incomplete": 1, "downloaded": 0},
        binary(HASH_B): {"complete": 0, "incomplete": 1, "downloaded": 0},
        binary(b"x" * 20): {"complete": 0, "incomplete": 0, "downloaded": 0},
    }


async def test_closing_a_socket_leaves_all_its_swarms(
    aiohttp_client: ClientFactory,
) -> None:
    app = create_tracker_app()
    client = await aiohttp_client(app)
    alice = Peer(await client.ws_connect("/"), "alice")
    bob = Peer(await client.ws_connect("/"), "bob")
    await alice.announce(HASH_A)
    await alice.announce(HASH_B)
    await bob.announce(HASH_A)
    service = tracker_service(app)
    assert service.stats()["peers"] == 3
    await alice.ws.close()
    await eventually(lambda: service.stats()["peers"] == 1)
    assert service.stats()["swarms"] == 1
    assert (await bob.announce(offers=2))["incomplete"] == 1


# -- client mistakes --------------------------------------------------------------------


MALFORMED = {
    "not json": ("{action: announce", None),
    "json array": ('["announce"]', None),
    "missing action": (json.dumps({"info_hash": binary(HASH_A)}), None),
    "unknown action": (json.dumps({"action": "connect"}), None),
    "short info_hash": (
        json.dumps({"action": "announce", "info_hash": "abc", "peer_id": "x" * 20}),
        "announce",
    ),
    "non-latin1 info_hash": (
        json.dumps({"action": "announce", "info_hash": "\u20ac" * 20, "peer_id": "x" * 20}),
        "announce",
    ),
    "too many offers": (
        json.dumps(
            {
                "action": "announce",
                "info_hash": binary(HASH_A),
                "peer_id": "m" * 20,
                "offers": [
                    {"offer": fake_sdp("offer", "m", i), "offer_id": str(i)} for i in range(11)
                ],
            }
        ),
        "announce",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_message_gets_a_failure_and_nothing_breaks(
    make_peer: PeerFactory, case: str
) -> None:
    text, action = MALFORMED[case]
    alice = await make_peer("alice")
    mallory = await make_peer("mallory")
    await alice.announce()
    await mallory.announce()
    await mallory.ws.send_str(text)
    failure = await mallory.receive()
    assert isinstance(failure["failure reason"], str) and failure["failure reason"]
    assert failure.get("action") == action
    # the same connection still works, and so does everyone else
    assert (await mallory.announce(offers=1))["incomplete"] == 2
    assert (await alice.receive())["peer_id"] == binary(mallory.peer_id)
    await alice.nothing_pending()


async def test_binary_frame_gets_a_failure_and_the_socket_stays(make_peer: PeerFactory) -> None:
    alice = await make_peer("alice")
    await alice.ws.send_bytes(json.dumps({"action": "scrape", "info_hash": "a" * 20}).encode())
    failure = await alice.receive()
    assert failure == {
        "failure reason": "message: binary frames are not accepted; send JSON as text"
    }
    assert (await alice.announce())["incomplete"] == 1


async def test_oversized_message_closes_that_socket_with_1009(
    aiohttp_client: ClientFactory,
) -> None:
    app = create_tracker_app(limits=TrackerLimits(max_message_bytes=2048))
    client = await aiohttp_client(app)
    alice = Peer(await client.ws_connect("/"), "alice")
    mallory = Peer(await client.ws_connect("/"), "mallory")
    await alice.announce()
    await mallory.announce()
    await mallory.ws.send_str(json.dumps({"action": "scrape", "pad": "x" * 2048}))
    closing = await mallory.ws.receive(timeout=TIMEOUT)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == 1009
    service = tracker_service(app)
    await eventually(lambda: service.stats()["connections"] == 1)
    assert service.stats()["failures"] == 1
    assert service.stats()["peers"] == 1
    # alice is untouched; mallory can come back
    assert (await alice.announce(offers=1))["incomplete"] == 1
    again = Peer(await client.ws_connect("/"), "mallory")
    assert (await again.announce())["incomplete"] == 2


async def test_is_allowed_filters_info_hashes(make_peer: PeerFactory) -> None:
    app = create_tracker_app(is_allowed=lambda info_hash: info_hash == HASH_A)
    alice = await make_peer("alice", app)
    assert (await alice.announce(HASH_A))["incomplete"] == 1
    assert await alice.announce(HASH_B) == {
        "failure reason": "info_hash: not served by this tracker",
        "action": "announce",
        "info_hash": binary(HASH_B),
    }
    refused = await alice.scrape(HASH_B)
    assert refused["failure reason"] == "info_hash: not served by this tracker"
    assert refused["action"] == "scrape"
    assert (await alice.scrape(HASH_A))["files"][binary(HASH_A)]["incomplete"] == 1


# -- peers that vanish ------------------------------------------------------------------


async def _three_peers(
    aiohttp_client: ClientFactory,
) -> tuple[TrackerService, list[Peer], list[int]]:
    app = create_tracker_app()
    client = await aiohttp_client(app)
    service = tracker_service(app)
    peers, ids = [], []
    for name in ("alice", "bob", "carol"):
        peer = Peer(await client.ws_connect("/"), name)
        await peer.announce()
        peers.append(peer)
        ids.append(max(service._connections))  # the socket that just announced
    return service, peers, ids


async def test_peer_whose_transport_dies_during_a_relay(
    aiohttp_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, (alice, bob, carol), (_, bob_id, _) = await _three_peers(aiohttp_client)
    core_receive = service._core.receive

    def bob_vanishes_mid_announce(connection: int, text: str) -> Any:
        deliveries = core_receive(connection, text)
        transport = service._connections[bob_id].transport
        assert transport is not None
        transport.abort()  # after the core chose bob, before the adapter sends to him
        return deliveries

    monkeypatch.setattr(service._core, "receive", bob_vanishes_mid_announce)
    reply = await alice.announce(offers=2, event=None)
    monkeypatch.undo()
    assert reply["incomplete"] == 3
    assert (await carol.receive())["peer_id"] == binary(alice.peer_id)
    await eventually(lambda: service.stats()["peers"] == 2)
    assert (await carol.announce(offers=2, event=None))["incomplete"] == 2
    assert (await alice.receive())["peer_id"] == binary(carol.peer_id)
    del bob


async def test_send_to_a_socket_that_resets_does_not_break_the_sender(
    aiohttp_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, (alice, bob, carol), (_, bob_id, _) = await _three_peers(aiohttp_client)

    async def reset(data: str, compress: int | None = None) -> None:
        raise ClientConnectionResetError("Cannot write to closing transport")

    monkeypatch.setattr(service._connections[bob_id].ws, "send_str", reset)
    reply = await alice.announce(offers=2, event=None)
    assert reply["incomplete"] == 3
    assert (await carol.receive())["peer_id"] == binary(alice.peer_id)
    await alice.nothing_pending()
    await bob.ws.close()
    await eventually(lambda: service.stats()["peers"] == 2)


async def test_silent_socket_is_closed_after_the_idle_timeout(
    aiohttp_client: ClientFactory,
) -> None:
    app = create_tracker_app(limits=TrackerLimits(idle_timeout_s=0.3))
    client = await aiohttp_client(app)
    service = tracker_service(app)
    alive = Peer(await client.ws_connect("/"), "alive")
    dead = Peer(await client.ws_connect("/", autoping=False), "dead")
    await alive.announce()
    await dead.announce()

    # alive answers pings (aiohttp's client does so while it waits in receive()).
    waiting = asyncio.ensure_future(alive.ws.receive())
    await eventually(lambda: service.stats()["connections"] == 1)
    assert service.stats()["peers"] == 1
    await asyncio.sleep(0.5)
    assert not waiting.done()
    assert service.stats()["connections"] == 1
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    assert (await alive.announce())["incomplete"] == 1


# -- stats, plain GET, shutdown ---------------------------------------------------------


async def test_stats(aiohttp_client: ClientFactory) -> None:
    app = create_tracker_app()
    client = await aiohttp_client(app)
    alice = Peer(await client.ws_connect("/"), "alice")
    bob = Peer(await client.ws_connect("/planktos/tracker"), "bob")
    await alice.announce(HASH_A)
    await alice.announce(HASH_B)
    await bob.announce(HASH_A, offers=3)
    await alice.answer(await alice.receive())
    await bob.receive()
    await bob.scrape(HASH_A)
    await bob.ws.send_str("nope")
    await bob.receive()
    expected = {
        "swarms": 2,
        "peers": 3,
        "peers_per_swarm": {HASH_A.hex(): 2, HASH_B.hex(): 1},
        "announces": 4,
        "relayed": 2,
        "scrapes": 1,
        "failures": 1,
        "connections": 2,
    }
    assert tracker_service(app).stats() == expected
    response = await client.get("/stats")
    assert response.status == 200
    assert await response.json() == expected


async def test_plain_get_is_told_to_upgrade(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_tracker_app())
    response = await client.get("/planktos/tracker")
    assert response.status == 426
    assert response.headers["Upgrade"] == "websocket"


async def test_service_mounted_in_another_app_and_closed(aiohttp_client: ClientFactory) -> None:
    service = TrackerService()
    app = web.Application()
    app.router.add_get("/planktos/tracker", service.handle)
    client = await aiohttp_client(app)
    alice = Peer(await client.ws_connect("/planktos/tracker"), "alice")
    bob = Peer(await client.ws_connect("/planktos/tracker"), "bob")
    await alice.announce()
    await bob.announce()
    await service.close()
    for peer in (alice, bob):
        message = await peer.ws.receive(timeout=TIMEOUT)
        assert message.type is WSMsgType.CLOSE
        assert message.data == 1001
    await eventually(lambda: service.stats()["connections"] == 0)
    assert service.stats()["peers"] == 0


def test_tracker_path_must_not_hide_the_stats() -> None:
    from planktos.errors import InputError

    with pytest.raises(InputError):
        create_tracker_app(path="/stats")
    with pytest.raises(InputError):
        create_tracker_app(path="announce")
    assert create_tracker_app(path="/announce") is not None


async def test_invalid_utf8_text_frame_closes_that_socket_with_1007(
    aiohttp_client: ClientFactory,
) -> None:
    app = create_tracker_app()
    client = await aiohttp_client(app)
    alice = Peer(await client.ws_connect("/"), "alice")
    mallory = Peer(await client.ws_connect("/"), "mallory")
    await alice.announce()
    await mallory.ws.send_frame(b'{"action": "\xff"}', WSMsgType.TEXT)
    closing = await mallory.ws.receive(timeout=TIMEOUT)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == 1007
    service = tracker_service(app)
    await eventually(lambda: service.stats()["connections"] == 1)
    assert service.stats()["failures"] == 1
    assert (await alice.announce())["incomplete"] == 1
