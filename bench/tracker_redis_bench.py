"""Benchmark the tracker's scale-out: two ``planktos tracker --redis`` processes vs one process.

Setups, each started fresh as real CLI subprocesses, run alternately in every round:

- ``one``: one ``planktos tracker`` without Redis (the baseline);
- ``one+redis``: one process with ``--redis`` (what Redis costs when nothing crosses
  processes: membership writes only);
- ``two+redis``: two processes sharing swarms through Redis, connections spread round-robin
  over both, so about half of the offers and answers cross processes through Redis pub/sub.

For each: closed-loop announces/s and relayed offers/s at N connections (announces with 5
offers, every relayed offer answered; ``bench/tracker_load.py``), relay latency p50/p99 under
that load and idle (at 100 connections, each announcing every 2 s), and CPU time of the tracker
processes and of redis-server per announce. Reports medians over rounds and ratios to
``one`` measured in the same run. The load generator runs in one worker process on the same
2 cores, unpinned, as do the trackers and Redis: on this machine the setups compete for the
same two cores, which is the point of the comparison.

A design check also measures, in-process, one announce through ``TrackerCore`` (in-memory,
what every announce costs) against one Redis round trip (what reading membership from Redis
on each announce would add), to justify the mirror.

Usage: ``python bench/tracker_redis_bench.py [--quick] [--rounds N] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plots import plot_tracker_redis
from tracker_load import LoadGenerator, raise_open_files_limit

RESULTS = Path(__file__).resolve().parent / "results"
REDIS_SERVER = "/usr/bin/redis-server"
SETUPS = ("one", "one+redis", "two+redis")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_IDLE_MAX = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


@contextmanager
def redis_server(directory: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    options = ["--save", "", "--appendonly", "no", "--dir", str(directory)]
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", *options],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.kill()
        proc.wait()


@contextmanager
def tracker(redis_url: str | None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A ``planktos tracker`` on a free port; yields its WebSocket URL and process."""
    args = ["--redis", redis_url] if redis_url else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "planktos", "tracker", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
    if match is None:
        proc.kill()
        raise SystemExit(f"planktos tracker did not start: {line}{proc.stdout.read()}")
    try:
        yield f"ws://127.0.0.1:{match[1]}/", proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def stats(ws_url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(ws_url.replace("ws://", "http://") + "stats", timeout=10) as r:
        body: dict[str, Any] = json.loads(r.read())
    return body


def measure(
    setup: str, redis_url: str, redis_pid: int, connections: int, duration_s: float
) -> dict[str, Any]:
    """One setup, started fresh: loaded window, then an idle (paced) window."""
    with ExitStack() as stack:
        count = 2 if setup == "two+redis" else 1
        url = redis_url if setup != "one" else None
        trackers = [stack.enter_context(tracker(url)) for _ in range(count)]
        urls = [ws for ws, _ in trackers]
        pids = [proc.pid for _, proc in trackers]
        load = stack.enter_context(LoadGenerator(urls, processes=1))
        connect_errors = load.connect(connections)
        time.sleep(0.5)  # let membership settle in every mirror
        cpu0 = [cpu_seconds(pid) for pid in pids]
        redis0 = cpu_seconds(redis_pid)
        loaded = load.run(duration_s)
        cpu = sum(cpu_seconds(pid) - c for pid, c in zip(pids, cpu0, strict=True))
        redis_cpu = cpu_seconds(redis_pid) - redis0 if url else 0.0
        # Idle: every socket announces once, then every 2 s: with up to 100 sockets, far below
        # capacity, so latency is the path's own. (With more, the first announce of every
        # socket at the window's start is itself a burst: not idle, so not measured.)
        idle = load.run(duration_s, pace_s=2.0) if connections <= _IDLE_MAX else None
        check_errors = load.check()
        cluster = [stats(ws).get("cluster", {}) for ws in urls]
    announces = max(loaded.announces, 1)
    return {
        "setup": setup,
        "connections": connections,
        "announces_per_s": loaded.announces_per_s,
        "offers_per_s": loaded.offers_per_s,
        "answers_received": loaded.answers_received,
        "latency_p50_ms": loaded.latency_ms(0.5),
        "latency_p99_ms": loaded.latency_ms(0.99),
        "idle_latency_p50_ms": idle.latency_ms(0.5) if idle else None,
        "idle_latency_p99_ms": idle.latency_ms(0.99) if idle else None,
        "tracker_cpu_us_per_announce": cpu / announces * 1e6,
        "redis_cpu_us_per_announce": redis_cpu / announces * 1e6,
        "relays_across_processes": sum(int(c.get("relays_out", 0)) for c in cluster),
        "relays_dropped": sum(int(c.get("relays_dropped", 0)) for c in cluster),
        "answers_lost_in_window": loaded.answers_sent - loaded.answers_received,
        "errors": connect_errors
        + check_errors
        + loaded.errors
        + loaded.failures
        + (idle.errors if idle else 0),
    }


def design_check(redis_url: str, samples: int) -> dict[str, float]:
    """Median µs of one in-memory announce with 5 offers vs one Redis round trip."""
    from planktos.tracker.swarm import TrackerCore

    core = TrackerCore()
    info_hash = "planktos-bench-00000"
    for n in range(50):
        core.receive(n, json.dumps(_announce(info_hash, n, 0)))
    texts = [json.dumps(_announce(info_hash, n % 50, 5)) for n in range(samples)]
    times = []
    for i, text in enumerate(texts):
        start = time.perf_counter()
        core.receive(i % 50, text)
        times.append(time.perf_counter() - start)
    core_us = statistics.median(times) * 1e6

    async def round_trips() -> float:
        import redis.asyncio as aioredis

        client = aioredis.from_url(redis_url)
        key = "planktos:bench:swarm"
        await client.sadd(key, *(f"peer{n}" for n in range(50)))
        rtts = []
        for _ in range(samples):
            start = time.perf_counter()
            await client.srandmember(key, 5)
            rtts.append(time.perf_counter() - start)
        await client.delete(key)
        await client.aclose()
        return statistics.median(rtts) * 1e6

    redis_us = asyncio.run(round_trips())
    return {
        "core_announce_us": core_us,
        "redis_round_trip_us": redis_us,
        "round_trip_per_announce": redis_us / core_us,
    }


def _announce(info_hash: str, n: int, offers: int) -> dict[str, Any]:
    return {
        "action": "announce",
        "info_hash": info_hash,
        "peer_id": f"-PL0001-{n:012d}",
        "left": 1,
        "numwant": offers,
        "offers": [
            {"offer": {"type": "offer", "sdp": "v=0\r\n" * 80}, "offer_id": f"{n}-{i}"}
            for i in range(offers)
        ],
    }


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return statistics.median(values) if values else None


def summarize(rows: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    table = []
    for connections in sizes:
        base = None
        for setup in SETUPS:
            mine = [r for r in rows if r["setup"] == setup and r["connections"] == connections]
            entry: dict[str, Any] = {"setup": setup, "connections": connections}
            for key in (
                "announces_per_s",
                "offers_per_s",
                "latency_p50_ms",
                "latency_p99_ms",
                "idle_latency_p50_ms",
                "idle_latency_p99_ms",
                "tracker_cpu_us_per_announce",
                "redis_cpu_us_per_announce",
            ):
                entry[key] = _median(mine, key)
            entry["relays_across_processes"] = sum(r["relays_across_processes"] for r in mine)
            entry["relays_dropped"] = sum(r["relays_dropped"] for r in mine)
            entry["errors"] = sum(r["errors"] for r in mine)
            if setup == "one":
                base = entry
            assert base is not None
            entry["announces_ratio_to_one"] = (
                entry["announces_per_s"] / base["announces_per_s"]
                if base["announces_per_s"]
                else None
            )
            table.append(entry)
    return table


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}"


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [
        f"Tracker scale-out benchmark, {env['date']}, {env['machine']}, {env['cores']} cores, "
        f"Python {env['python']}, medians of {result['rounds']} alternating rounds, "
        f"{result['duration_s']:g} s windows",
        "",
        "| setup | connections | announces/s | ratio to one | offers/s | relay p50 / p99 ms (load) "
        "| relay p50 / p99 ms (idle) | tracker CPU µs/announce | Redis CPU µs/announce "
        "| relays via Redis | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["table"]:
        lines.append(
            f"| {row['setup']} | {row['connections']:,} | {_fmt(row['announces_per_s'])} "
            f"| {_fmt(row['announces_ratio_to_one'], 2)} | {_fmt(row['offers_per_s'])} "
            f"| {_fmt(row['latency_p50_ms'], 2)} / {_fmt(row['latency_p99_ms'], 2)} "
            f"| {_fmt(row['idle_latency_p50_ms'], 2)} / {_fmt(row['idle_latency_p99_ms'], 2)} "
            f"| {_fmt(row['tracker_cpu_us_per_announce'])} "
            f"| {_fmt(row['redis_cpu_us_per_announce'])} "
            f"| {row['relays_across_processes']:,} | {row['errors']} |"
        )
    for connections in sorted({row["connections"] for row in result["table"]}):
        by_setup = {r["setup"]: r for r in result["table"] if r["connections"] == connections}
        one, two = by_setup["one"], by_setup["two+redis"]
        lines.append("")
        lines.append(
            f"At {connections:,} connections, two processes + Redis vs one process: "
            f"announces/s x{_ratio(two['announces_per_s'], one['announces_per_s'])}, "
            f"relay p50 under load x{_ratio(two['latency_p50_ms'], one['latency_p50_ms'])}, "
            f"tracker CPU per announce x"
            f"{_ratio(two['tracker_cpu_us_per_announce'], one['tracker_cpu_us_per_announce'])}."
        )
    check = result["design_check"]
    lines += [
        "",
        f"Design check: one announce with 5 offers through `TrackerCore` takes "
        f"{check['core_announce_us']:.1f} µs (median); one Redis round trip "
        f"(`SRANDMEMBER`, redis.asyncio) takes {check['redis_round_trip_us']:.1f} µs, "
        f"{check['round_trip_per_announce']:.1f}x that. Reading membership from Redis on each "
        "announce would add at least one round trip to every announce; the mirror adds none.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny run, to prove it works")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not Path(REDIS_SERVER).exists():
        print(f"tracker_redis_bench: {REDIS_SERVER} missing; run make system-deps", file=sys.stderr)
        return 1
    raise_open_files_limit()
    sizes = [20] if args.quick else [100, 1000]
    duration_s = 1.0 if args.quick else 5.0
    rounds = 1 if args.quick else args.rounds
    rows = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as (redis_url, redis):
        for round_index in range(rounds):
            for connections in sizes:
                for setup in SETUPS:
                    row = measure(setup, redis_url, redis.pid, connections, duration_s)
                    rows.append({**row, "round": round_index})
                    print(
                        f"round {round_index + 1}/{rounds} {setup:9} {connections:5} conns: "
                        f"{row['announces_per_s']:8.0f} announces/s, "
                        f"p50 {_fmt(row['latency_p50_ms'], 2)} ms",
                        file=sys.stderr,
                    )
        check = design_check(redis_url, 200 if args.quick else 5000)
    result = {
        "environment": {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "rounds": rounds,
        "duration_s": duration_s,
        "table": summarize(rows, sizes),
        "design_check": check,
        "runs": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tracker_redis.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "tracker_redis.md").write_text(markdown(result))
    plot_tracker_redis(result, args.out / "tracker_redis.png")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
