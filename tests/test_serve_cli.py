"""End to end: ``planktos serve`` as a process, a regular BitTorrent client, the stats API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote
from urllib.request import Request, urlopen

import pytest

from planktos.bencode import decode
from planktos.cli import main
from planktos.manifest import read_full
from planktos.server.accesslog import parse_clf_line
from tests.servers import planktos_serve


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    with urlopen(Request(url, headers=headers or {}), timeout=10) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_aria2c_downloads_the_site_from_the_web_seed_alone(site: Path, tmp_path: Path) -> None:
    aria2c = shutil.which("aria2c")
    assert aria2c, "aria2c is missing: make test installs Debian's aria2"
    log = tmp_path / "access.log"
    with planktos_serve(site, "--access-log", str(log)) as served:
        assert main(["build", "--root", str(site), "--base-url", served.url, "--quiet"]) == 0
        manifest = read_full(site / "planktos/manifest.json")
        out = tmp_path / "download"
        torrents = [str(site / s["torrent"]) for s in manifest["shards"].values()]
        proc = subprocess.run(
            [
                aria2c,
                "--dir",
                str(out),
                "--seed-time=0",
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--bt-stop-timeout=30",
                "--console-log-level=warn",
                "--summary-interval=0",
                "--check-integrity=true",
                *torrents,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # Every published file arrived byte for byte where its torrent says.
    for url, entry in manifest["files"].items():
        if entry["length"] == 0:
            continue  # empty files are in no torrent
        shard = manifest["shards"][entry["shard"]]
        meta = decode((site / shard["torrent"]).read_bytes())
        assert isinstance(meta, dict)
        info = meta[b"info"]
        assert isinstance(info, dict)
        if b"length" in info:
            got = out / info[b"name"].decode()  # type: ignore[union-attr]
        else:
            path = info[b"files"][entry["index"]][b"path"]  # type: ignore[index, call-overload]
            got = out.joinpath(info[b"name"].decode(), *(p.decode() for p in path))  # type: ignore
        assert got.read_bytes() == (site / unquote(url)).read_bytes(), url
    # ...and it came from web seed Range requests, counted in the access log.
    entries = [parse_clf_line(line) for line in log.read_text().splitlines()]
    seeded = sum(e.body_bytes for e in entries if e.status == 206)
    assert seeded >= sum(s["length"] for s in manifest["shards"].values())


def test_serve_stats_and_access_log(site: Path, tmp_path: Path) -> None:
    assert main(["build", "--root", str(site), "--quiet"]) == 0
    log = tmp_path / "access.log"
    with planktos_serve(site, "--access-log", str(log)) as served:
        status, headers, body = get(served.url + "css/style.css", {"Range": "bytes=0-9"})
        assert status == 206 and body == b"body { col"
        assert headers["Content-Range"] == f"bytes 0-9/{(site / 'css/style.css').stat().st_size}"
        _, headers, body = get(served.url + "planktos.sw.js")
        assert headers["Cache-Control"] == "no-cache" and b"PLANKTOS_BUILD" in body
        _, _, body = get(served.url + "planktos/stats")
        stats = json.loads(body)
        assert stats["static"]["bytes_sent"] >= 10 + len(body) * 0
        assert stats["tracker"]["swarms"] == 0
    lines = log.read_text().splitlines()
    first = parse_clf_line(lines[0])
    assert (first.method, first.path, first.status, first.body_bytes) == (
        "GET",
        "/css/style.css",
        206,
        10,
    )


def test_serve_bad_input_is_one_line(site: Path, tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "planktos", "serve", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "not a directory" in missing.stderr
    with planktos_serve(site) as served:
        busy = subprocess.run(
            [sys.executable, "-m", "planktos", "serve", str(site), "--port", str(served.port)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    assert busy.returncode == 1 and "address in use" in busy.stderr
    assert busy.stderr.count("\n") == 1


@pytest.mark.parametrize("open_tracker", [False, True])
async def test_embedded_tracker_serves_only_manifest_hashes(site: Path, open_tracker: bool) -> None:
    import aiohttp

    assert main(["build", "--root", str(site), "--quiet"]) == 0
    manifest = read_full(site / "planktos/manifest.json")
    known = bytes.fromhex(next(iter(manifest["shards"].values()))["infohash"]).decode("latin-1")
    unknown = (b"\x01" * 20).decode("latin-1")
    peer = (b"-PK0001-" + b"a" * 12).decode("latin-1")
    args = ["--open-tracker"] if open_tracker else []
    with planktos_serve(site, *args) as served:
        ws_url = served.url.replace("http", "ws") + "planktos/tracker"
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
            for info_hash, allowed in ((known, True), (unknown, open_tracker)):
                await ws.send_json(
                    {
                        "action": "announce",
                        "info_hash": info_hash,
                        "peer_id": peer,
                        "numwant": 5,
                        "event": "started",
                        "uploaded": 0,
                        "downloaded": 0,
                        "left": 0,
                        "offers": [],
                    }
                )
                reply = await ws.receive_json(timeout=10)
                assert ("failure reason" not in reply) == allowed, reply


def test_tracker_raises_its_open_files_limit_to_the_hard_limit() -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("hard limit on open files is already tiny")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    proc = subprocess.Popen(
        [sys.executable, "-m", "planktos", "tracker", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=low_soft_limit,
    )
    try:
        assert proc.stdout is not None
        assert "Tracker at ws://" in proc.stdout.readline()
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        soft = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        expected = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        assert soft.split()[3] == expected, soft
    finally:
        proc.terminate()
        proc.wait(10)


_SIGNAL_MID_REQUEST = """
import os, signal, sys, time
from aiohttp import web
from planktos.server.run import run_app

async def handler(request):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.3)  # the signal lands while this request is being handled
    return web.Response(text="finished")

app = web.Application()
app.router.add_get("/", handler)
app.on_shutdown.append(lambda app: print("shutting down", flush=True))
run_app(app, "127.0.0.1", 0, None, lambda url: print(url, flush=True))
"""


def test_a_stop_signal_lets_the_request_in_hand_finish_then_stops() -> None:
    """SIGTERM starts an orderly shutdown; it is never raised inside the code that runs.

    Raised as KeyboardInterrupt wherever it landed, it could hit a transport callback, where
    uvloop reported it as a transport error and swallowed it: loaded trackers then ran on
    after being told to stop (about one stop in four under benchmark load).
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", _SIGNAL_MID_REQUEST],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url + proc.stdout.read()
        with urlopen(url, timeout=10) as response:
            assert response.read() == b"finished"
        assert proc.wait(20) == 0
        assert "shutting down" in proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()


def test_tracker_on_a_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "planktos", "tracker", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    assert proc.returncode == 1 and "address in use" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stdout == ""


async def test_a_stop_signal_closes_the_standalone_trackers_sockets_with_1001() -> None:
    import aiohttp

    proc = subprocess.Popen(
        [sys.executable, "-m", "planktos", "tracker", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "Tracker at ws://" in line, line
        url = line.split()[2]
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            proc.send_signal(signal.SIGTERM)
            message = await ws.receive(timeout=10)
            assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 1001, message
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()


def test_an_access_log_inside_the_served_site_is_refused(site: Path) -> None:
    command = [sys.executable, "-m", "planktos", "serve", str(site), "--port", "0"]
    for log in (site / "access.log", site / "logs" / "..", site / "css" / "x.log"):
        proc = subprocess.run(
            [*command, "--access-log", str(log)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert "inside the served site, which would publish it" in proc.stderr
    assert not (site / "access.log").exists() and not (site / "css/x.log").exists()


async def test_standalone_tracker_serves_a_rebuilt_manifests_hashes(site: Path) -> None:
    import re
    import time

    import aiohttp

    def shard_hashes() -> set[str]:
        shards = read_full(site / "planktos/manifest.json")["shards"].values()
        return {bytes.fromhex(s["infohash"]).decode("latin-1") for s in shards}

    assert main(["build", "--root", str(site), "--quiet"]) == 0
    before = shard_hashes()
    manifest = str(site / "planktos/manifest.json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "planktos", "tracker", "--port", "0", "--manifest", manifest],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = re.search(r"127\.0\.0\.1:(\d+)/", line)
        assert port, line
        peer = (b"-PK0001-" + b"b" * 12).decode("latin-1")

        async def announce(ws: aiohttp.ClientWebSocketResponse, info_hash: str) -> bool:
            await ws.send_json(
                {"action": "announce", "info_hash": info_hash, "peer_id": peer, "left": 0}
            )
            return "failure reason" not in await ws.receive_json(timeout=10)

        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"ws://127.0.0.1:{port[1]}/") as ws,
        ):
            assert all([await announce(ws, h) for h in before])
            (site / "css/style.css").write_text("body { color: navy }\n")
            assert main(["build", "--root", str(site), "--quiet"]) == 0
            new = shard_hashes() - before
            assert new
            deadline = time.monotonic() + 10
            while not all([await announce(ws, h) for h in new]):
                assert time.monotonic() < deadline, "the rebuilt manifest's hashes stay refused"
                await asyncio.sleep(0.1)
            # The previous build's hashes stay served for visitors still on it.
            assert all([await announce(ws, h) for h in before])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every_s: float) -> None:
    """Send ``data`` one byte at a time: a slow half-open request."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every_s)


async def _cut_after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
    """Trickle a request head until the server closes; seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 500
    trickling = asyncio.create_task(_trickle(writer, head, 0.05))
    try:
        assert await asyncio.wait_for(reader.read(), 10) == b""
    finally:
        trickling.cancel()
        writer.close()
    return loop.time() - started


async def test_serve_cuts_a_slow_request_head_at_its_deadline(site: Path, tmp_path: Path) -> None:
    import aiohttp

    from planktos.server.app import create_app
    from planktos.server.run import start

    app = create_app(site, stats_db=tmp_path / "stats.sqlite3")
    runner, port = await start(app, "127.0.0.1", 0, None, head_timeout_s=0.5)
    try:
        # A head trickled a byte every 50 ms is cut 0.5 s after its first byte.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert 0.45 <= await _cut_after(reader, writer) < 5
        # So is the second head of a keep-alive connection whose first request was served.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /css/style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert status.startswith(b"HTTP/1.1 200 "), status
        length = int(status.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await asyncio.wait_for(reader.readexactly(length), 5)
        assert 0.45 <= await _cut_after(reader, writer) < 5
        # Requests being handled are not: a tracker WebSocket outlives the deadline.
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"ws://127.0.0.1:{port}/planktos/tracker") as ws,
        ):
            await asyncio.sleep(1.0)  # twice the deadline, idle
            await ws.send_json({"action": "scrape", "info_hash": "a" * 20})
            reply = await ws.receive_json(timeout=5)
            assert reply["action"] == "scrape", reply
    finally:
        await runner.cleanup()
