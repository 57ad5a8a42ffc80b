"""The tracker over real WebSockets on loopback: both adapters, aiohttp clients speaking WebTorrent.

Every test runs against the standalone ``planktos tracker`` (:class:`TrackerServer`, Sans-IO)
and against the aiohttp :class:`TrackerService` that ``planktos serve`` mounts, unless it is
about one of them. SDPs are fake (no WebRTC here); everything else is what
bittorrent-tracker's client sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.client_ws import ClientWebSocketResponse
from aiohttp.test_utils import TestServer

from planktos.tracker import hub as hub_module
from planktos.tracker.hub import TrackerHub
from planktos.tracker.protocol import TrackerLimits
from planktos.tracker.server import UPGRADE_REQUIRED_TEXT, TrackerService
from planktos.tracker.standalone import EMBEDDED_PATH, TrackerServer

HASH_A = bytes(range(0xEC, 0x100))  # 20 bytes, all above 0x7f
HASH_B = b"planktos-test-hash-B"
TIMEOUT = 3.0
ADAPTERS = ("standalone", "aiohttp")


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
        sdp_pad: int = 0,
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
            for offer in message["offers"]:
                offer["offer"]["sdp"] += "a=x\r\n" * sdp_pad
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


@dataclass
class Running:
    """A tracker listening on loopback: its WebSocket URL, HTTP base URL and hub."""

    url: str
    http: str
    hub: TrackerHub
    session: aiohttp.ClientSession
    close: Callable[[], Awaitable[None]]

    async def connect(self, name: str, **kw: Any) -> Peer:
        return Peer(await self.session.ws_connect(self.url, **kw), name)


StartTracker = Callable[..., Awaitable[Running]]


async def _start(adapter: str, session: aiohttp.ClientSession, **kw: Any) -> Running:
    if adapter == "standalone":
        server = TrackerServer(**kw)
        port = await server.start("127.0.0.1", 0)
        http = f"http://127.0.0.1:{port}"
        return Running(f"ws://127.0.0.1:{port}/", http, server.hub, session, server.close)
    service = TrackerService(**kw)
    app = web.Application()
    app.router.add_get(EMBEDDED_PATH, service.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()

    async def close() -> None:
        await service.close()
        await test_server.close()

    http = str(test_server.make_url("")).rstrip("/")
    return Running(f"ws{http[4:]}{EMBEDDED_PATH}", http, service, session, close)


@pytest.fixture(params=ADAPTERS)
async def start_tracker(request: pytest.FixtureRequest) -> AsyncIterator[StartTracker]:
    """``await start_tracker(**kw)``: a tracker of this test's adapter (TrackerHub kwargs)."""
    running: list[Running] = []
    async with aiohttp.ClientSession() as session:

        async def start(**kw: Any) -> Running:
            running.append(await _start(request.param, session, **kw))
            return running[-1]

        yield start
    for tracker in running:
        await tracker.close()


@pytest.fixture
async def standalone() -> AsyncIterator[StartTracker]:
    """Like ``start_tracker``, for tests of the standalone tracker only."""
    running: list[Running] = []
    async with aiohttp.ClientSession() as session:

        async def start(**kw: Any) -> Running:
            running.append(await _start("standalone", session, **kw))
            return running[-1]

        yield start
    for tracker in running:
        await tracker.close()


@pytest.fixture
def make_peer(start_tracker: StartTracker) -> Callable[..., Awaitable[Peer]]:
    """``await make_peer(name)``: a connected peer (one default tracker per test)."""
    trackers: list[Running] = []

    async def connect(name: str, **kw: Any) -> Peer:
        if not trackers:
            trackers.append(await start_tracker())
        return await trackers[0].connect(name, **kw)

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


async def test_closing_a_socket_leaves_all_its_swarms(start_tracker: StartTracker) -> None:
    tracker = await start_tracker()
    alice = await tracker.connect("alice")
    bob = await tracker.connect("bob")
    await alice.announce(HASH_A)
    await alice.announce(HASH_B)
    await bob.announce(HASH_A)
    assert tracker.hub.stats()["peers"] == 3
    await alice.ws.close()
    await eventually(lambda: tracker.hub.stats()["peers"] == 1)
    assert tracker.hub.stats()["swarms"] == 1
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
    start_tracker: StartTracker,
) -> None:
    tracker = await start_tracker(limits=TrackerLimits(max_message_bytes=2048))
    alice = await tracker.connect("alice")
    mallory = await tracker.connect("mallory")
    await alice.announce()
    await mallory.announce()
    await mallory.ws.send_str(json.dumps({"action": "scrape", "pad": "x" * 2048}))
    closing = await mallory.ws.receive(timeout=TIMEOUT)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == 1009
    hub = tracker.hub
    await eventually(lambda: hub.stats()["connections"] == 1)
    assert hub.stats()["failures"] == 1
    assert hub.stats()["peers"] == 1
    # alice is untouched; mallory can come back
    assert (await alice.announce(offers=1))["incomplete"] == 1
    again = await tracker.connect("mallory")
    assert (await again.announce())["incomplete"] == 2


class RawClient:
    """A WebSocket client written by hand, to send what aiohttp's client never does."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, url: str, *, receive_buffer: int | None = None) -> RawClient:
        host, port = url.split("/")[2].split(":")
        path = "/" + url.split("/", 3)[3]
        sock = socket.socket()
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101 "), head
        return cls(reader, writer)

    def send(self, payload: bytes, opcode: int = 1, fin: bool = True) -> None:
        """One frame, masked with a zero key (RFC 6455 requires a mask, not secrecy)."""
        length = len(payload)
        first = (0x80 if fin else 0) | opcode
        if length < 126:
            header = bytes((first, 0x80 | length))
        else:
            header = bytes((first, 0x80 | 126)) + length.to_bytes(2, "big")
        self.writer.write(header + b"\0\0\0\0" + payload)

    async def receive(self) -> tuple[int, bytes]:
        """The next frame the server sends (unmasked, shorter than 64 KiB): opcode, payload."""
        first, length = await asyncio.wait_for(self.reader.readexactly(2), TIMEOUT)
        if length == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        return first & 0x0F, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def test_fragmented_messages(start_tracker: StartTracker) -> None:
    tracker = await start_tracker()
    client = await RawClient.connect(tracker.url)
    text = json.dumps({"action": "scrape", "info_hash": binary(HASH_A)}).encode()
    client.send(text[:10], fin=False)
    client.send(text[10:20], opcode=0, fin=False)
    client.send(b"", opcode=9)  # a ping between the fragments
    client.send(text[20:], opcode=0)
    frames = dict([await client.receive(), await client.receive()])
    assert frames[10] == b""  # the pong, before or after the reply
    assert json.loads(frames[1])["action"] == "scrape"
    client.send(b"\x00", opcode=2, fin=False)
    client.send(b"\x01", opcode=0)
    assert json.loads((await client.receive())[1]) == {
        "failure reason": "message: binary frames are not accepted; send JSON as text"
    }
    client.close()


async def test_is_allowed_filters_info_hashes(start_tracker: StartTracker) -> None:
    tracker = await start_tracker(is_allowed=lambda info_hash: info_hash == HASH_A)
    alice = await tracker.connect("alice")
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


async def _three_peers(start_tracker: StartTracker) -> tuple[Running, list[Peer], list[int]]:
    tracker = await start_tracker()
    peers, ids = [], []
    for name in ("alice", "bob", "carol"):
        peer = await tracker.connect(name)
        await peer.announce()
        peers.append(peer)
        ids.append(max(tracker.hub.sockets))  # the socket that just announced
    return tracker, peers, ids


async def test_peer_whose_transport_dies_during_a_relay(
    start_tracker: StartTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker, (alice, bob, carol), (_, bob_id, _) = await _three_peers(start_tracker)
    hub = tracker.hub
    core_receive = hub.core.receive

    def bob_vanishes_mid_announce(connection: int, text: str) -> Any:
        deliveries = core_receive(connection, text)
        transport = hub.sockets[bob_id].transport  # type: ignore[attr-defined]
        transport.abort()  # after the core chose bob, before the adapter sends to him
        return deliveries

    monkeypatch.setattr(hub.core, "receive", bob_vanishes_mid_announce)
    reply = await alice.announce(offers=2, event=None)
    monkeypatch.undo()
    assert reply["incomplete"] == 3
    assert (await carol.receive())["peer_id"] == binary(alice.peer_id)
    await eventually(lambda: hub.stats()["peers"] == 2)
    assert (await carol.announce(offers=2, event=None))["incomplete"] == 2
    assert (await alice.receive())["peer_id"] == binary(carol.peer_id)
    del bob


class FakeSocket:
    """A socket whose transport records what is written and reports what we tell it."""

    def __init__(self, buffered: int = 0, closing: bool = False, is_open: bool = True) -> None:
        self.buffered = buffered
        self.closing = closing
        self.open = is_open
        self.written: list[bytes] = []
        self.transport = self

    def is_open(self) -> bool:
        return self.open

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.written.append(data)

    async def shut_down(self) -> None:
        self.open = False


async def test_send_drops_what_a_backed_up_or_closing_socket_would_hold() -> None:
    hub = TrackerHub()
    cap = hub_module.MAX_BUFFERED_BYTES
    cases = [
        (FakeSocket(), True),
        (FakeSocket(buffered=cap), True),
        (FakeSocket(buffered=cap + 1), False),
        (FakeSocket(closing=True), False),  # noticed when written
        (FakeSocket(is_open=False), False),
    ]
    for socket_, _ in cases:
        hub.send(socket_, b"{}")  # type: ignore[arg-type]
        assert socket_.written == []  # queued for the end of this loop turn
    await asyncio.sleep(0)
    for socket_, sent in cases:
        assert socket_.written == ([b"\x81\x02{}"] if sent else []), vars(socket_)


async def test_frames_queued_in_one_loop_turn_are_written_once_in_order() -> None:
    hub = TrackerHub()
    first, second = FakeSocket(), FakeSocket()
    hub.send(first, b"1")  # type: ignore[arg-type]
    hub.send(second, b"2")  # type: ignore[arg-type]
    hub.send(first, b"3")  # type: ignore[arg-type]
    hub.flush_socket(second)  # type: ignore[arg-type]
    assert second.written == [b"\x81\x012"] and first.written == []
    await asyncio.sleep(0)
    assert first.written == [b"\x81\x011\x81\x013"]
    assert second.written == [b"\x81\x012"]
    hub.send(first, b"4")  # type: ignore[arg-type]
    first.open = False  # a close frame went out meanwhile: nothing may follow it
    await asyncio.sleep(0)
    assert first.written == [b"\x81\x011\x81\x013"]


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536])
async def test_text_frame_lengths(length: int) -> None:
    hub = TrackerHub()
    socket_ = FakeSocket()
    hub.send(socket_, b"x" * length)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    [frame] = socket_.written
    assert frame[0] == 0x81
    if length < 126:
        assert frame[1] == length and len(frame) == 2 + length
    elif length < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == length
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == length
    assert (
        frame.endswith(b"x" * length)
        and len(frame) == length + {0: 2, 1: 4, 2: 10}[(length >= 126) + (length >= 65536)]
    )


async def test_a_peer_that_stops_reading_costs_the_others_nothing(
    start_tracker: StartTracker,
) -> None:
    """Offers pile up for a peer that reads nothing; the tracker holds at most the cap."""
    tracker = await start_tracker()
    alice = await tracker.connect("alice")
    stalled = await RawClient.connect(tracker.url, receive_buffer=4096)
    await eventually(lambda: len(tracker.hub.sockets) == 2)
    transport = tracker.hub.sockets[max(tracker.hub.sockets)].transport  # type: ignore[attr-defined]
    announce = {
        "action": "announce",
        "info_hash": binary(HASH_B),
        "peer_id": binary(b"S" * 20),
        "event": "started",
        "left": 0,
    }
    stalled.send(json.dumps(announce).encode())
    await eventually(lambda: tracker.hub.stats()["peers"] == 1)
    stalled.writer.transport.pause_reading()  # from now on, it reads nothing at all
    most = 0
    for _ in range(3000):
        reply = await alice.announce(HASH_B, offers=1, sdp_pad=2000, event=None)
        assert reply["action"] == "announce", reply
        most = max(most, transport.get_write_buffer_size())
        if most > hub_module.MAX_BUFFERED_BYTES:
            break
    for _ in range(20):  # every one of these is dropped for the stalled peer
        assert (await alice.announce(HASH_B, offers=1, sdp_pad=2000))["incomplete"] == 1
    # Beyond the cap, offers were dropped, not buffered: at most one more frame was added.
    assert hub_module.MAX_BUFFERED_BYTES < most < hub_module.MAX_BUFFERED_BYTES + 20_000
    assert transport.get_write_buffer_size() == most
    stalled.close()


async def test_silent_socket_is_closed_after_the_idle_timeout(
    start_tracker: StartTracker,
) -> None:
    tracker = await start_tracker(limits=TrackerLimits(idle_timeout_s=0.3))
    hub = tracker.hub
    alive = await tracker.connect("alive")
    dead = await tracker.connect("dead", autoping=False)
    await alive.announce()
    await dead.announce()

    # alive answers pings (aiohttp's client does so while it waits in receive()).
    waiting = asyncio.ensure_future(alive.ws.receive())
    await eventually(lambda: hub.stats()["connections"] == 1)
    assert hub.stats()["peers"] == 1
    await asyncio.sleep(0.5)
    assert not waiting.done()
    assert hub.stats()["connections"] == 1
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    assert (await alive.announce())["incomplete"] == 1


async def test_the_sweep_pings_a_quiet_socket_then_cuts_it(standalone: StartTracker) -> None:
    idle = 0.6
    tracker = await standalone(limits=TrackerLimits(idle_timeout_s=idle))
    dead = await tracker.connect("dead", autoping=False)
    await dead.announce()
    started = asyncio.get_running_loop().time()
    ping = await dead.ws.receive(timeout=TIMEOUT)
    pinged = asyncio.get_running_loop().time() - started
    assert ping.type is WSMsgType.PING
    assert idle / 2 <= pinged <= idle * 4 / 6 + 0.2, pinged  # silent for 3 to 4 sweeps
    end = await dead.ws.receive(timeout=TIMEOUT)
    cut = asyncio.get_running_loop().time() - started
    assert end.type in (WSMsgType.CLOSED, WSMsgType.CLOSE, WSMsgType.ERROR), end
    assert idle * 5 / 6 <= cut <= idle + 0.2, cut
    await eventually(lambda: tracker.hub.stats()["connections"] == 0)
    assert tracker.hub.stats()["peers"] == 0


async def test_an_unfinished_handshake_is_cut(standalone: StartTracker) -> None:
    tracker = await standalone(limits=TrackerLimits(idle_timeout_s=0.3))
    host, port = tracker.url.split("/")[2].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    writer.close()


# -- stats, plain GET, shutdown ---------------------------------------------------------


async def test_stats(start_tracker: StartTracker) -> None:
    tracker = await start_tracker()
    alice = await tracker.connect("alice")
    bob = await tracker.connect("bob")
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
    assert tracker.hub.stats() == expected


async def test_standalone_http_paths(standalone: StartTracker) -> None:
    tracker = await standalone(path="/announce")
    session = tracker.session
    base = tracker.http
    alice = Peer(await session.ws_connect(base.replace("http", "ws") + "/announce"), "alice")
    bob = Peer(await session.ws_connect(base.replace("http", "ws") + EMBEDDED_PATH), "bob")
    await alice.announce()
    assert (await bob.announce())["incomplete"] == 2
    async with session.get(base + "/stats?x=1") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert await response.json() == tracker.hub.stats()
    for path in ("/announce", EMBEDDED_PATH):
        async with session.get(base + path) as response:
            assert response.status == 426
            assert response.headers["Upgrade"] == "websocket"
            assert await response.text() == UPGRADE_REQUIRED_TEXT
    async with session.get(base + "/") as response:
        assert response.status == 404
    async with session.get(base + "/stats") as response:
        assert (await response.json())["connections"] == 2


async def test_plain_get_is_told_to_upgrade(start_tracker: StartTracker) -> None:
    tracker = await start_tracker()
    async with tracker.session.get(tracker.url.replace("ws", "http", 1)) as response:
        assert response.status == 426
        assert response.headers["Upgrade"] == "websocket"
        assert "connect with a WebSocket" in await response.text()


async def test_close_says_going_away_to_every_socket(start_tracker: StartTracker) -> None:
    tracker = await start_tracker()
    alice = await tracker.connect("alice")
    bob = await tracker.connect("bob")
    await alice.announce()
    await bob.announce()
    closing = asyncio.ensure_future(tracker.hub.close())
    for peer in (alice, bob):
        message = await peer.ws.receive(timeout=TIMEOUT)
        assert message.type is WSMsgType.CLOSE
        assert message.data == 1001
    await asyncio.wait_for(closing, TIMEOUT)
    await eventually(lambda: tracker.hub.stats()["connections"] == 0)
    assert tracker.hub.stats()["peers"] == 0


async def test_standalone_close_stops_listening(standalone: StartTracker) -> None:
    tracker = await standalone()
    alice = await tracker.connect("alice")
    closing = asyncio.ensure_future(tracker.close())
    assert (await alice.ws.receive(timeout=TIMEOUT)).data == 1001
    await asyncio.wait_for(closing, 1.0)  # alice's client answered the close at once
    with pytest.raises(aiohttp.ClientConnectionError):
        await tracker.connect("late")


def test_tracker_path_must_not_hide_the_stats() -> None:
    from planktos.errors import InputError

    with pytest.raises(InputError):
        TrackerServer(path="/stats")
    with pytest.raises(InputError):
        TrackerServer(path="announce")
    assert TrackerServer(path="/announce") is not None


async def test_invalid_utf8_text_frame_closes_that_socket_with_1007(
    start_tracker: StartTracker,
) -> None:
    tracker = await start_tracker()
    alice = await tracker.connect("alice")
    mallory = await tracker.connect("mallory")
    await alice.announce()
    await mallory.ws.send_frame(b'{"action": "\xff"}', WSMsgType.TEXT)
    closing = await mallory.ws.receive(timeout=TIMEOUT)
    assert closing.type is WSMsgType.CLOSE
    assert closing.data == 1007
    hub = tracker.hub
    await eventually(lambda: hub.stats()["connections"] == 1)
    assert hub.stats()["failures"] == 1
    assert (await alice.announce())["incomplete"] == 1


# -- abuse: numbers, squatting (issue 12) -----------------------------------------------


async def test_a_400_digit_left_is_refused_naming_the_field_and_logs_nothing(
    make_peer: PeerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    mallory = await make_peer("mallory")
    alice = await make_peer("alice")
    await alice.announce()
    huge = int("9" * 400)
    caplog.set_level(logging.DEBUG, logger="planktos")
    for _ in range(50):
        failure = await mallory.announce(left=huge)
        assert failure["failure reason"].startswith("left: "), failure
        assert failure["action"] == "announce"
        assert failure["info_hash"] == binary(HASH_A)
    assert [r for r in caplog.records if r.name.startswith("planktos")] == []
    assert (await mallory.announce(offers=1))["incomplete"] == 2
    assert (await alice.receive())["peer_id"] == binary(mallory.peer_id)


async def test_a_bug_met_by_every_message_is_logged_once(
    start_tracker: StartTracker, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(info_hash: bytes) -> bool:
        raise RuntimeError("a bug of ours")

    tracker = await start_tracker(is_allowed=broken)
    mallory = await tracker.connect("mallory")
    caplog.set_level(logging.DEBUG, logger="planktos")
    for _ in range(20):
        failure = await mallory.announce()
        assert failure == {"failure reason": "tracker: internal error while handling the message"}
    logged = [r for r in caplog.records if r.name.startswith("planktos")]
    assert len(logged) == 1 and logged[0].exc_info is not None, logged


async def test_a_handshake_trickled_byte_by_byte_is_cut_at_its_deadline(
    standalone: StartTracker,
) -> None:
    tracker = await standalone(limits=TrackerLimits(handshake_timeout_s=0.5))
    host, port = tracker.url.split("/")[2].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    loop = asyncio.get_running_loop()
    started = loop.time()
    head = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Pad: " + b"a" * 500

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for byte in head:  # one byte every 50 ms: never silent for a sweep
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)

    trickling = asyncio.create_task(trickle())
    try:
        assert await asyncio.wait_for(reader.read(), TIMEOUT * 3) == b""
    finally:
        trickling.cancel()
        writer.close()
    assert 0.45 <= loop.time() - started < 5, "cut long before its bytes end (27 s)"
    # A completed handshake is not cut: the socket outlives the deadline.
    alice = await tracker.connect("alice")
    assert (await alice.announce())["incomplete"] == 1
    await asyncio.sleep(1.0)  # twice the deadline, idle
    assert (await alice.announce(event=None))["incomplete"] == 1


async def test_a_learned_peer_id_cannot_lock_its_owner_out_of_another_swarm(
    make_peer: PeerFactory,
) -> None:
    alice = await make_peer("alice")
    bob = await make_peer("bob")
    mallory = await make_peer("mallory")
    await alice.announce(HASH_A)
    await bob.announce(HASH_B)
    # Mallory learns alice's id from an offer alice sends, and announces it in swarm B.
    await alice.announce(HASH_A, offers=1, event=None)
    await mallory.announce(HASH_A)
    await alice.announce(HASH_A, offers=1, event=None)
    offer = await mallory.receive()
    assert offer["peer_id"] == binary(alice.peer_id)
    mallory.peer_id = alice.peer_id
    refused = await mallory.announce(HASH_B)
    assert refused["failure reason"].startswith("peer_id: in use by another connection"), refused
    # Alice joins swarm B all the same, and bob's answer to her offer reaches her alone.
    assert (await alice.announce(HASH_B))["incomplete"] == 2
    await alice.announce(HASH_B, offers=1, event=None)
    offer = await bob.receive()
    await bob.answer(offer)
    answer = await alice.receive()
    assert answer["answer"]["type"] == "answer" and answer["peer_id"] == binary(bob.peer_id)
    await mallory.nothing_pending()


async def test_a_reconnecting_peers_id_is_kept_for_its_address(
    start_tracker: StartTracker,
) -> None:
    tracker = await start_tracker()
    alice = await tracker.connect("alice")  # from 127.0.0.1
    await alice.announce(HASH_A)
    await alice.ws.close()
    await eventually(lambda: tracker.hub.stats()["connections"] == 0)
    elsewhere = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=elsewhere) as session:
        mallory = Peer(await session.ws_connect(tracker.url), "mallory")
        mallory.peer_id = alice.peer_id
        refused = await mallory.announce(HASH_B)
        assert refused["failure reason"].startswith("peer_id: its connection closed"), refused
        back = await tracker.connect("alice")  # alice's browser reconnects
        assert back.peer_id == alice.peer_id
        assert (await back.announce(HASH_B))["incomplete"] == 1
        await mallory.ws.close()
