"""Benchmark ``planktos tracker`` against bittorrent-tracker (npm), side by side in one run.

Both trackers run as real processes on loopback (ours: the CLI; theirs:
``bench/bittorrent_tracker.mjs``, WebSocket only, no stats). The clients are
``tracker_load.LoadGenerator`` worker processes. On this 2-core machine the tracker under test
is pinned to CPU 0 and the load generator to CPU 1 (``os.sched_setaffinity``), so the two never
compete for one core; both are reported in the JSON.

Each round starts each tracker afresh, in alternating order, and measures:

- memory per held connection: RSS of the tracker process after 5,000 and 10,000 sockets have
  connected and joined a swarm (one "started" announce), minus its RSS after a short warm-up,
  divided by the number of sockets; in the last round the 10,000 sockets are then held for
  60 s and each must still answer one more announce (errors = sockets closed or silent);
- relay latency idle: 10 peers of one swarm announcing 5 offers every 0.2 s;
- announces/s and relayed offers/s with 100 and 1,000 sockets in a closed loop (each announces
  again as soon as it has its reply, and answers every offer it gets), and the relay latency
  under that load; beside them the tracker's CPU use, to show it was the bottleneck.

Reports medians over the rounds and ratios (ours / theirs). ``--quick`` runs a tiny version in
a few seconds. Usage: ``python bench/tracker_bench.py [--quick] [--rounds N] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from tracker_load import LoadGenerator, raise_open_files_limit  # noqa: E402

RESULTS = HERE / "results"
OURS = "planktos"
THEIRS = "bittorrent-tracker"
SERVER_CPU = 0
CLIENT_CPU = 1


@dataclass(frozen=True)
class Sizes:
    throughput: tuple[int, ...]
    duration_s: float
    held: tuple[int, ...]
    hold_s: float
    idle_peers: int
    idle_pace_s: float
    idle_s: float
    settle_s: float  # wait after connecting before reading the RSS


FULL = Sizes((100, 1000), 5.0, (5000, 10000), 60.0, 10, 0.2, 3.0, 0.5)
QUICK = Sizes((20, 100), 0.3, (100, 200), 0.2, 6, 0.1, 0.3, 0.1)


class Tracker:
    """One tracker process, pinned to a CPU, with its URL, RSS and CPU time."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == OURS:
            cmd = [sys.executable, "-m", "planktos", "tracker", "--host", "127.0.0.1"]
            cmd += ["--port", "0"]
            pattern = r"Tracker at (ws://\S+)"
        else:
            cmd = ["node", str(HERE / "bittorrent_tracker.mjs"), "0"]
            pattern = r"listening (\d+)"
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(self.proc.pid, {SERVER_CPU})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(pattern, line)
        if match is None:
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise SystemExit(f"{name} did not start: {line.strip()} {err.strip()}")
        found = match.group(1)
        self.url = found if found.startswith("ws") else f"ws://127.0.0.1:{found}/"

    def rss(self) -> int:
        """Resident set size in bytes."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process used so far (all threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def tracker(name: str) -> Iterator[Tracker]:
    server = Tracker(name)
    try:
        yield server
    finally:
        server.stop()


def measure_memory(
    load: LoadGenerator, server: Tracker, sizes: Sizes, hold: bool
) -> dict[str, Any]:
    load.connect(10)  # warm-up: imports, first swarms, first buffers
    load.run(sizes.duration_s)
    load.disconnect()
    time.sleep(sizes.settle_s)
    base = server.rss()
    out: dict[str, Any] = {"rss_base_MB": round(base / 1e6, 1), "connect_errors": 0}
    for n in sizes.held:
        out["connect_errors"] += load.connect(n)
        time.sleep(sizes.settle_s)
        rss = server.rss()
        out[f"kib_per_conn_{n}"] = round((rss - base) / n / 1024, 2)
    if hold:
        held = sizes.held[-1]
        time.sleep(sizes.hold_s)
        out["held"] = held
        out["hold_s"] = sizes.hold_s
        out["hold_errors"] = out["connect_errors"] + load.check()
    load.disconnect()
    return out


def measure_load(load: LoadGenerator, server: Tracker, sizes: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    load.connect(sizes.idle_peers)
    idle = load.run(sizes.idle_s, pace_s=sizes.idle_pace_s)
    out["idle_latency_p50_ms"] = idle.latency_ms(0.5)
    out["idle_latency_p99_ms"] = idle.latency_ms(0.99)
    out["idle_errors"] = idle.errors + idle.failures
    clients = load.worker_pids()

    def cpu_use() -> tuple[float, float]:
        return server.cpu_s(), sum(map(cpu_seconds, clients))

    for n in sizes.throughput:
        out["connect_errors"] = out.get("connect_errors", 0) + load.connect(n)
        result = load.run(sizes.duration_s, probe=cpu_use)
        busy, client_busy = (seconds / sizes.duration_s for seconds in result.probed)
        out[f"announces_per_s_{n}"] = result.announces_per_s
        out[f"offers_per_s_{n}"] = result.offers_per_s
        out[f"load_latency_p50_ms_{n}"] = result.latency_ms(0.5)
        out[f"load_latency_p99_ms_{n}"] = result.latency_ms(0.99)
        out[f"server_cpu_pct_{n}"] = round(100 * busy)  # the tracker must be the bottleneck
        out[f"announces_per_cpu_s_{n}"] = round(result.announces_per_s / max(busy, 0.01))
        out[f"client_cpu_pct_{n}"] = round(100 * client_busy)
        out[f"errors_{n}"] = result.errors + result.failures
    load.disconnect()
    return out


def bench(sizes: Sizes, rounds: int) -> dict[str, Any]:
    limit = raise_open_files_limit()
    needed = max(sizes.held) + 100
    if limit < needed:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {limit} < {needed}: raise it (ulimit -Hn)")
    samples: dict[str, list[dict[str, Any]]] = {OURS: [], THEIRS: []}
    # One client process on the other core.
    cpus = {CLIENT_CPU} if (os.cpu_count() or 1) > 1 else None
    for r in range(rounds):
        order = (OURS, THEIRS) if r % 2 == 0 else (THEIRS, OURS)
        for name in order:
            started = time.monotonic()
            with tracker(name) as server, LoadGenerator([server.url], cpus=cpus) as load:
                sample = measure_memory(load, server, sizes, hold=r == rounds - 1)
                sample.update(measure_load(load, server, sizes))
            sample["seconds"] = round(time.monotonic() - started, 1)
            samples[name].append(sample)
            print(f"round {r + 1}/{rounds} {name}: {json.dumps(sample)}", flush=True)
    medians = {name: _medians(rows) for name, rows in samples.items()}
    ratios = {
        key: round(medians[OURS][key] / medians[THEIRS][key], 2)
        for key in medians[OURS]
        if isinstance(medians[OURS][key], float | int)
        and isinstance(medians[THEIRS].get(key), float | int)
        and medians[THEIRS][key]
        and not key.endswith("errors")
    }
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "versions": _versions(),
        "cpu_split": (
            f"tracker pinned to CPU {SERVER_CPU}, load generator (1 process) to CPU {CLIENT_CPU}"
            if cpus
            else "one CPU: no pinning"
        ),
        "rounds": rounds,
        "sizes": sizes.__dict__,
        "medians": medians,
        "ratios_ours_to_theirs": ratios,
        "samples": samples,
    }


def _medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in rows[0]:
        values = [row[key] for row in rows if isinstance(row.get(key), int | float)]
        if key.endswith("errors"):
            out[key] = sum(values)  # errors add up, they are not averaged away
        elif values:
            out[key] = round(statistics.median(values), 3)
    for key in ("held", "hold_s", "hold_errors"):
        found = [row[key] for row in rows if key in row]
        if found:
            out[key] = found[-1]
    return out


def _versions() -> dict[str, str]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "?"

    package = json.loads((ROOT / "node_modules/bittorrent-tracker/package.json").read_text())
    import aiohttp
    import websockets

    return {
        "python": platform.python_version(),
        "websockets": websockets.__version__,
        "aiohttp": aiohttp.__version__,
        "node": run("node", "--version"),
        "bittorrent-tracker": package["version"],
    }


def markdown(r: dict[str, Any]) -> str:
    ours, theirs = r["medians"][OURS], r["medians"][THEIRS]
    sizes = r["sizes"]

    def number(value: Any, unit: str = "", digits: int = 0) -> str:
        if not isinstance(value, int | float):
            return "-"
        return f"{value:,.{digits}f}{unit}"

    def ratio(key: str) -> str:
        value = r["ratios_ours_to_theirs"].get(key)
        return f"{value:.2f}x" if value is not None else "-"

    rows = []
    for n in sizes["throughput"]:
        for label, key, digits in (
            (f"announces/s, {n:,} sockets", f"announces_per_s_{n}", 0),
            (f"relayed offers/s, {n:,} sockets", f"offers_per_s_{n}", 0),
            (f"relay latency p50 under load, {n:,} sockets", f"load_latency_p50_ms_{n}", 1),
            (f"relay latency p99 under load, {n:,} sockets", f"load_latency_p99_ms_{n}", 1),
            (f"tracker CPU use, {n:,} sockets", f"server_cpu_pct_{n}", 0),
            (f"announces per tracker CPU-second, {n:,} sockets", f"announces_per_cpu_s_{n}", 0),
        ):
            unit = " ms" if "latency" in key else (" %" if "cpu_pct" in key else "")
            rows.append(
                (
                    label,
                    number(ours.get(key), unit, digits),
                    number(theirs.get(key), unit, digits),
                    ratio(key),
                )
            )
    for label, key in (
        ("relay latency p50 idle", "idle_latency_p50_ms"),
        ("relay latency p99 idle", "idle_latency_p99_ms"),
    ):
        rows.append(
            (label, number(ours.get(key), " ms", 2), number(theirs.get(key), " ms", 2), ratio(key))
        )
    for n in sizes["held"]:
        key = f"kib_per_conn_{n}"
        rows.append(
            (
                f"memory per held socket, {n:,} held",
                number(ours.get(key), " KiB", 1),
                number(theirs.get(key), " KiB", 1),
                ratio(key),
            )
        )
    held, hold_s = sizes["held"][-1], sizes["hold_s"]
    rows.append(
        (
            f"errors holding {held:,} sockets for {hold_s:g} s",
            number(ours.get("hold_errors")),
            number(theirs.get("hold_errors")),
            "",
        )
    )
    errors = [k for k in ours if k.endswith("errors") and k != "hold_errors"]
    rows.append(
        (
            "other errors (connect, load, failures)",
            number(sum(ours[k] for k in errors)),
            number(sum(theirs.get(k, 0) for k in errors)),
            "",
        )
    )
    v = r["versions"]
    lines = [
        f"Tracker benchmark, {r['date']}, {r['machine']}, medians of {r['rounds']} rounds "
        f"(Python {v['python']}, websockets {v.get('websockets', '?')}; Node {v['node']}, "
        f"bittorrent-tracker {v['bittorrent-tracker']}); {r['cpu_split']}",
        "",
        "| what | planktos | bittorrent-tracker | planktos / bittorrent-tracker |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = (OURS, THEIRS)
    sizes = r["sizes"]
    panels = (
        (
            "announces/s",
            [f"announces_per_s_{n}" for n in sizes["throughput"]],
            [f"{n:,} sockets" for n in sizes["throughput"]],
        ),
        (
            "relay latency p99 (ms)",
            ["idle_latency_p99_ms", *(f"load_latency_p99_ms_{n}" for n in sizes["throughput"])],
            ["idle", *(f"{n:,} sockets" for n in sizes["throughput"])],
        ),
        (
            "KiB per held socket",
            [f"kib_per_conn_{n}" for n in sizes["held"]],
            [f"{n:,} held" for n in sizes["held"]],
        ),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 4))
    width = 0.38
    for ax, (title, keys, labels) in zip(axes, panels, strict=True):
        for i, name in enumerate(names):
            values = [r["medians"][name].get(k) or 0 for k in keys]
            xs = [x + (i - 0.5) * width for x in range(len(keys))]
            ax.bar(xs, values, width, label=name)
        ax.set_xticks(range(len(keys)), labels)
        ax.set_title(title)
    axes[0].legend()
    fig.suptitle(f"Tracker benchmark, {r['date']}, medians of {r['rounds']} rounds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--hold-seconds", type=float, help="hold time in the last round")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: must be at least 1")
    if not (ROOT / "node_modules/bittorrent-tracker/package.json").is_file():
        raise SystemExit("node_modules/bittorrent-tracker missing: run `make runtime` first")
    sizes = QUICK if args.quick else FULL
    if args.hold_seconds is not None:
        sizes = dataclasses.replace(sizes, hold_s=args.hold_seconds)
    result = bench(sizes, args.rounds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tracker.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (args.out / "tracker.md").write_text(table)
    plot(result, args.out / "tracker.png")
    print(table)


if __name__ == "__main__":
    main()
