"""Tracker processes sharing swarms through a real Redis server (``--redis``).

Each test starts Debian's ``redis-server`` on a free loopback port (no persistence, in a temp
dir) and real ``planktos tracker`` / ``planktos serve`` subprocesses; fake browsers speak
WebTorrent tracker messages over real WebSockets (SDPs are fake: no WebRTC here).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.servers import free_port
from tests.test_tracker_server import HASH_A, HASH_B, Peer

REDIS_SERVER = Path("/usr/bin/redis-server")
pytestmark = pytest.mark.skipif(
    not REDIS_SERVER.exists(), reason="needs Debian's redis-server (make system-deps)"
)
TTL_S = 2.0  # --redis-ttl in these tests: a dead process is forgotten within 8/3 s
WAIT_S = 10.0


class RedisServer:
    """A redis-server subprocess on a fixed loopback port, which tests may stop and restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert self.proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not answer"
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class Tracker:
    """One tracker process: where its WebSocket and its stats are."""

    ws_url: str
    stats_url: str
    proc: subprocess.Popen[str]
    output: list[str]


@contextmanager
def tracker_process(
    command: str, redis_url: str, *extra: str, site: Path | None = None
) -> Iterator[Tracker]:
    """``planktos tracker`` or ``planktos serve --open-tracker`` with ``--redis``, port 0."""
    args = ["--port", "0", "--redis", redis_url, "--redis-ttl", str(TTL_S), *extra]
    if command == "serve":
        assert site is not None
        args = [str(site), "--open-tracker", *args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "planktos", command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    match = None
    while match is None:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"planktos {command} exited:\n" + "".join(output))
        output.append(line)
        match = re.search(r"127\.0\.0\.1:(\d+)/", line)
    base = f"127.0.0.1:{match[1]}"
    if command == "serve":
        tracker = Tracker(
            f"ws://{base}/planktos/tracker", f"http://{base}/planktos/stats", proc, output
        )
    else:
        tracker = Tracker(f"ws://{base}/", f"http://{base}/stats", proc, output)
    try:
        yield tracker
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert proc.stdout is not None
        output.extend(proc.stdout.read().splitlines(keepends=True))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def stats(session: aiohttp.ClientSession, tracker: Tracker) -> dict[str, Any]:
    async with session.get(tracker.stats_url) as response:
        body: dict[str, Any] = await response.json()
    return body.get("tracker", body)


async def until(
    session: aiohttp.ClientSession, tracker: Tracker, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll the tracker's stats until ``check`` holds; fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        current = await stats(session, tracker)
        if check(current):
            return current
        assert time.monotonic() < deadline, current
        await asyncio.sleep(0.05)


PeerMaker = Callable[[Tracker, str], Awaitable[Peer]]


@pytest.fixture
async def connect(session: aiohttp.ClientSession) -> AsyncIterator[PeerMaker]:
    sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def make(tracker: Tracker, name: str) -> Peer:
        ws = await session.ws_connect(tracker.ws_url)
        sockets.append(ws)
        return Peer(ws, name)

    yield make
    for ws in sockets:
        await ws.close()


async def exchange(offerer: Peer, answerer: Peer, info_hash: bytes = HASH_A) -> None:
    """``offerer`` sends one offer, which reaches ``answerer``, whose answer comes back."""
    reply = await offerer.announce(info_hash, offers=1, event=None)
    assert reply["action"] == "announce" and "offer" not in reply, reply
    offer = await answerer.receive()
    assert offer["offer"]["type"] == "offer", offer
    assert offer["peer_id"] == offerer.peer_id.decode("latin-1")
    assert offer["offer_id"] == f"{offerer.name}-offer-0"
    await answerer.answer(offer)
    answer = await offerer.receive()
    assert answer["answer"] == {
        "type": "answer",
        "sdp": f"v=0\r\no=- {answerer.name}0 2 IN IP4 127.0.0.1\r\ns=-\r\n",
    }
    assert answer["peer_id"] == answerer.peer_id.decode("latin-1")
    assert answer["offer_id"] == offer["offer_id"]


@pytest.mark.parametrize("command", ["tracker", "serve"])
async def test_peers_on_two_processes_exchange_offers_and_answers(
    command: str,
    redis_server: RedisServer,
    session: aiohttp.ClientSession,
    connect: PeerMaker,
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with (
        tracker_process(command, redis_server.url, site=site) as one,
        tracker_process(command, redis_server.url, site=site) as two,
    ):
        alice = await connect(one, "alice")
        bob = await connect(two, "bob")
        assert (await alice.announce())["incomplete"] == 1
        # bob's process learns of alice through Redis before bob's announce counts her.
        await until(session, two, lambda s: s["peers"] == 1)
        reply = await bob.announce()
        assert (reply["complete"], reply["incomplete"]) == (0, 2)
        await until(session, one, lambda s: s["peers"] == 2)

        await exchange(bob, alice)  # two → one
        await exchange(alice, bob)  # one → two

        first, second = await stats(session, one), await stats(session, two)
        assert first["cluster"]["processes"] == second["cluster"]["processes"] == 2
        assert first["cluster"]["relays_out"] == 2 and first["cluster"]["relays_in"] == 2
        assert second["cluster"]["relays_out"] == 2 and second["cluster"]["relays_in"] == 2
        assert first["connections"] == second["connections"] == 1

        # Completion is shared too: a seeder on one process counts as complete on the other.
        await alice.announce(event="completed", left=0)
        await until(session, two, lambda s: s["peers"] == 2)
        reply = await until_reply(bob, lambda r: r["complete"] == 1)
        assert reply["incomplete"] == 1

        # A socket that closes leaves the other process's mirror too.
        await alice.ws.close()
        await until(session, two, lambda s: s["peers"] == 1)


async def until_reply(peer: Peer, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Announce (an update) until the reply satisfies ``check``."""
    deadline = time.monotonic() + WAIT_S
    while True:
        reply = await peer.announce(event=None)
        if check(reply):
            return reply
        assert time.monotonic() < deadline, reply
        await asyncio.sleep(0.05)


async def test_killed_process_is_forgotten_and_the_other_keeps_serving(
    redis_server: RedisServer, session: aiohttp.ClientSession, connect: PeerMaker
) -> None:
    with (
        tracker_process("tracker", redis_server.url) as doomed,
        tracker_process("tracker", redis_server.url) as survivor,
    ):
        for name in ("dora", "dan"):
            await (await connect(doomed, name)).announce()
        bob = await connect(survivor, "bob")
        await bob.announce()
        await until(session, survivor, lambda s: s["peers"] == 3)

        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait()
        killed_at = time.monotonic()
        # The survivor keeps serving its own peers while the dead ones are still mirrored.
        carol = await connect(survivor, "carol")
        assert (await carol.announce())["incomplete"] == 4
        await until(session, survivor, lambda s: s["peers"] == 2)
        forgotten_after = time.monotonic() - killed_at
        assert forgotten_after <= 4 / 3 * TTL_S + 2.0, forgotten_after  # + poll, load slack

        before = (await stats(session, survivor))["cluster"]
        reply = await bob.announce(offers=5, event=None)
        assert reply["incomplete"] == 2
        offer = await carol.receive()  # the only other peer left gets the only offer sent
        assert offer["peer_id"] == bob.peer_id.decode("latin-1")
        await carol.nothing_pending()
        await bob.nothing_pending()
        after = await stats(session, survivor)
        assert after["relayed"] >= 1 and after["cluster"]["relays_out"] == before["relays_out"]
        assert after["cluster"]["processes"] == 1
        await exchange(carol, bob)


async def test_redis_going_away_falls_back_to_local_swarms_and_recovers(
    redis_server: RedisServer, session: aiohttp.ClientSession, connect: PeerMaker
) -> None:
    with (
        tracker_process("tracker", redis_server.url) as one,
        tracker_process("tracker", redis_server.url) as two,
    ):
        alice, bob = await connect(one, "alice"), await connect(two, "bob")
        await alice.announce()
        await bob.announce()
        await until(session, one, lambda s: s["peers"] == 2)

        redis_server.kill()
        await until(session, one, lambda s: not s["cluster"]["connected"] and s["peers"] == 1)
        await until(session, two, lambda s: not s["cluster"]["connected"] and s["peers"] == 1)
        # Each process still serves its own swarm: peers of the same process meet.
        amy = await connect(one, "amy")
        assert (await amy.announce())["incomplete"] == 2
        await exchange(amy, alice)

        redis_server.start()  # same port, empty: both processes state their peers again
        await until(session, one, lambda s: s["cluster"]["connected"] and s["peers"] == 3)
        await until(session, two, lambda s: s["cluster"]["connected"] and s["peers"] == 3)
        await amy.announce(event="stopped", reply=False)
        await until(session, two, lambda s: s["peers"] == 2)
        await exchange(bob, alice)
        await exchange(alice, bob)
    for tracker in (one, two):  # one line when Redis goes, one when it is back
        log = "".join(tracker.output)
        assert log.count("lost Redis") == 1 and log.count("is back;") == 1, log


def run_cli(*args: str, block_redis: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``planktos ARGS``, optionally as if the redis package were not installed."""
    code = "import sys\n"
    if block_redis:
        code += "sys.modules['redis'] = None  # what a missing package looks like to import\n"
    code += "from planktos.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--redis", "http://127.0.0.1:6379"], 2, "invalid Redis URL 'http://127.0.0.1:6379'"),
        (["--redis", "localhost:6379"], 2, "invalid Redis URL 'localhost:6379'"),
        (["--redis", "redis://127.0.0.1:port/0"], 1, "not a Redis URL (Port could not be cast"),
        (["--redis-ttl", "5"], 1, "--redis-ttl: only applies with --redis URL"),
        (["--redis", "redis://127.0.0.1:1/0", "--redis-ttl", "0"], 2, "invalid time '0'"),
        (["--redis", "redis://127.0.0.1:1/0", "--redis-ttl", "nan"], 2, "invalid time 'nan'"),
    ],
)
@pytest.mark.parametrize("command", ["tracker", "serve"])
def test_bad_redis_options_are_one_line(
    command: str, args: list[str], status: int, message: str, tmp_path: Path
) -> None:
    proc = run_cli(command, *([str(tmp_path)] if command == "serve" else []), "--port", "0", *args)
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert message in proc.stderr


@pytest.mark.parametrize("command", ["tracker", "serve"])
def test_unreachable_redis_is_one_line_before_listening(command: str, tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    proc = run_cli(
        command, *([str(tmp_path)] if command == "serve" else []), "--port", "0", "--redis", url
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""  # no "Tracker at" / "Serving": the port was never bound
    assert proc.stderr.startswith(f"planktos {command}: error: {url}: cannot reach Redis (")
    assert proc.stderr.rstrip().endswith("start it or fix --redis")
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_missing_redis_package_says_what_to_install() -> None:
    proc = run_cli("tracker", "--port", "0", "--redis", "redis://127.0.0.1:1/0", block_redis=True)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (
        "planktos tracker: error: --redis: needs the redis package; "
        "install it with: pip install planktos[redis]\n"
    )


def test_without_redis_the_package_is_never_imported(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import planktos.cli, planktos.server.run\n"
        "from planktos.server.app import create_app\n"
        "from planktos.tracker.standalone import TrackerServer\n"
        "TrackerServer(); create_app(Path(sys.argv[1]))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert proc.stdout == "[]\n"


async def test_tracker_without_redis_reports_no_cluster(
    session: aiohttp.ClientSession, connect: PeerMaker
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "planktos", "tracker", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"127\.0\.0\.1:(\d+)/", line)
    assert match, line
    tracker = Tracker(
        f"ws://127.0.0.1:{match[1]}/", f"http://127.0.0.1:{match[1]}/stats", proc, [line]
    )
    try:
        alice, bob = await connect(tracker, "alice"), await connect(tracker, "bob")
        await alice.announce()
        await bob.announce()
        await exchange(alice, bob)
        assert "cluster" not in await stats(session, tracker)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


@pytest.mark.parametrize("command", ["tracker", "serve"])
async def test_a_400_digit_left_is_refused_in_a_cluster_and_logs_nothing(
    command: str,
    redis_server: RedisServer,
    session: aiohttp.ClientSession,
    connect: PeerMaker,
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with (
        tracker_process(command, redis_server.url, site=site) as one,
        tracker_process(command, redis_server.url, site=site) as two,
    ):
        alice = await connect(one, "alice")
        mallory = await connect(two, "mallory")
        await alice.announce()
        await until(session, two, lambda s: s["peers"] == 1)
        for _ in range(20):
            failure = await mallory.announce(left=int("9" * 400))
            assert failure["failure reason"].startswith("left: "), failure
        await exchange(mallory, alice)  # both processes still relay
        for peer in (alice, mallory):
            await peer.ws.close()  # else each process waits for their close frames
    logged = "".join(two.output[1:])
    assert "Traceback" not in logged and "internal error" not in logged, logged


async def test_a_peer_id_held_on_one_process_cannot_be_squatted_on_another(
    redis_server: RedisServer, session: aiohttp.ClientSession, connect: PeerMaker
) -> None:
    with (
        tracker_process("tracker", redis_server.url) as one,
        tracker_process("tracker", redis_server.url) as two,
    ):
        alice = await connect(one, "alice")
        await alice.announce(HASH_A)
        await until(session, two, lambda s: s["peers"] == 1)
        mallory = await connect(two, "mallory")
        mallory.peer_id = alice.peer_id
        refused = await mallory.announce(HASH_B)
        assert refused["failure reason"].startswith("peer_id: in use by another connection")
        bob = await connect(two, "bob")
        await bob.announce(HASH_B)
        await until(session, one, lambda s: s["peers"] == 2)
        assert (await alice.announce(HASH_B))["incomplete"] == 2
        await until(session, two, lambda s: s["peers"] == 3)
        await exchange(alice, bob, HASH_B)
        await mallory.nothing_pending()
        for peer in (alice, bob, mallory):
            await peer.ws.close()  # else each process waits for their close frames
