"""Benchmark ``planktos build`` against the torrent creators people use instead.

On the synthetic tree (``tree.py``), with a warm page cache: the machine's all-core SHA-1
rate (hashlib, 256 KiB buffers, one thread per core; also SHA-1 + SHA-256), then ``planktos
build`` (real CLI, empty hash cache) and each peer tool of ``peers.py`` (one v1 torrent of the
whole tree at the piece length planktos gives the largest files), alternating: every round
runs each tool once, in an order that rotates from round to round, right after fresh
hash-rate measurements. Every run is a process of its own, timed from outside, its peak RSS
and CPU time read by GNU ``time``; every output is checked (``peers.check_torrent``, the
manifest) before it counts. Reports medians, MB/s, % of the SHA-1 rate and planktos build's
throughput as a ratio to each tool; then one-file-changed rebuilds of a 10,000-file tree and
of the whole tree.

Generated trees are cached under ``--trees`` (default: the system temp dir), keyed by size,
seed and spec, and used through hard-linked copies that are never written in place, so a
second run skips the ~2 GB of writing. Exits 1 if a peer tool is missing or failed (after
writing what it measured). Usage: ``python bench/build_bench.py [--size full|tiny] [--runs N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, load, machine_info
from peers import PEERS, ToolError, check_torrent
from planktos.manifest import read_full
from planktos.shards import SMALL_PIECE, piece_length_for
from planktos.walk import OWN_OUTPUT
from plots import plot_build
from tree import SPECS, TreeSpec, generate

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 1
GNU_TIME = "/usr/bin/time"
PLANKTOS = "planktos build"


def hash_rate(algorithms: tuple[str, ...] = ("sha1",), seconds: float = 1.0) -> float:
    """Bytes per second hashed with every one of ``algorithms`` over 256 KiB buffers on all
    cores (hashlib frees the GIL)."""
    buf = bytes(range(256)) * 1024
    threads = os.cpu_count() or 1
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            for name in algorithms:
                hashlib.new(name, buf).digest()
            n += len(buf)
        counts[i] = n

    start = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


@dataclass(frozen=True)
class Sample:
    """One process run: wall seconds, CPU seconds (user + system) and peak RSS in bytes."""

    seconds: float
    cpu_seconds: float
    peak_rss: int


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Sample:
    """Run ``cmd`` under GNU time; raise ToolError with its stderr if it fails."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        # GNU time forks a small process of its own, so the peak RSS it reads is the tool's
        # and not this benchmark's (a child forked from Python would carry our pages).
        full = [GNU_TIME, "-f", "%M %U %S", "-o", report.name, *cmd]
        start = time.perf_counter()
        proc = subprocess.run(full, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise ToolError(f"exit status {proc.returncode}: {tail}")
        rss_kib, user, system = report.read().split()[-3:]
    return Sample(elapsed, float(user) + float(system), int(rss_kib) * 1024)


def spec_key(size: str, spec: TreeSpec) -> str:
    """Cache key of a generated tree: size, seed and a digest of the spec and generator."""
    source = (Path(__file__).resolve().parent / "tree.py").read_bytes()
    digest = hashlib.sha1(repr((spec, SEED)).encode() + source).hexdigest()[:10]
    return f"{size}-seed{SEED}-{digest}"


def cached_tree(trees: Path, size: str) -> Path:
    """The generated tree for ``size``, made once and kept; its files are never modified."""
    spec = SPECS[size]
    final = trees / spec_key(size, spec)
    if final.exists():
        return final
    trees.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=trees))
    start = time.perf_counter()
    generate(partial / "site", spec, seed=SEED)
    # Mtimes in the past: the hash cache only stores files that are not racily new.
    past = time.time_ns() - 3600 * 10**9
    for p in (partial / "site").rglob("*"):
        os.utime(p, ns=(past, past))
    os.rename(partial, final)
    print(f"generated {final} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return final


def piece_lengths(spec: TreeSpec) -> dict[str, int]:
    """The piece lengths ``planktos build`` gives the tree's kinds of files (shards.py)."""
    lo, hi = (round(x / 1e6) for x in spec.medium_range)
    return {
        "small-file shards": SMALL_PIECE,
        f"files of {lo}-{hi} MB": piece_length_for(spec.medium_range[1]),
        f"files of {spec.large_size // 10**6} MB": piece_length_for(spec.large_size),
    }


def link_copy(tree: Path, dest: Path) -> Path:
    """A copy of the cached tree made of hard links (same inodes, so the same page cache)."""
    shutil.copytree(tree / "site", dest, copy_function=os.link)
    return dest


def site_stats(root: Path) -> tuple[int, int]:
    """Files and bytes of the site, leaving out planktos build's output."""
    files = total = 0
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if p.is_file() and rel[0] not in OWN_OUTPUT:
            files += 1
            total += p.stat().st_size
    return files, total


def remove_output(root: Path) -> None:
    """Delete planktos build's output so that the peers see the site's files only."""
    shutil.rmtree(root / "planktos", ignore_errors=True)
    for name in OWN_OUTPUT - {"planktos"}:  # planktos.sw.js and its precompressed copies
        (root / name).unlink(missing_ok=True)


def build_cmd(root: Path) -> list[str]:
    return [sys.executable, "-m", "planktos", "build", "--quiet", "--root", str(root)]


def run_planktos(root: Path, cache: Path, files: int, total: int) -> tuple[Sample, int]:
    """One cold ``planktos build``, checked; returns the sample and the number of torrents."""
    sample = measure(build_cmd(root), dict(os.environ, PLANKTOS_CACHE_DIR=str(cache)))
    manifest = read_full(root / "planktos" / "manifest.json")
    listed = sum(f["length"] for f in manifest["files"].values())
    torrents = list((root / "planktos" / "t").glob("*.torrent"))
    if len(manifest["files"]) != files or listed != total:
        raise ToolError(f"manifest lists {len(manifest['files'])} files of {listed} bytes")
    if len(torrents) != len(manifest["shards"]):
        raise ToolError(f"{len(torrents)} torrents for {len(manifest['shards'])} shards")
    remove_output(root)
    return sample, len(torrents)


@dataclass
class ToolResult:
    """What one tool did over the rounds."""

    version: str = ""
    settings: str = ""
    status: str = "ok"  # ok | missing | failed
    error: str = ""
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.seconds.append(sample.seconds)
        self.cpu_seconds.append(sample.cpu_seconds)
        self.peak_rss.append(sample.peak_rss)


def compare(size: str, runs: int, trees: Path, work: Path) -> dict[str, Any]:
    """The round-robin comparison on the cached tree of ``size``."""
    root = link_copy(cached_tree(trees, size), work / "site")
    files, total = site_stats(root)
    piece = max(piece_lengths(SPECS[size]).values())
    out = work / "out"
    out.mkdir()
    results: dict[str, ToolResult] = {
        PLANKTOS: ToolResult(
            version=f"planktos {machine_info()['planktos']}",
            settings="defaults (`--jobs` = cores), empty hash cache",
        )
    }
    torrents = 0
    counter = iter(range(10**6))

    def planktos() -> Sample:
        nonlocal torrents
        sample, torrents = run_planktos(root, work / f"cache{next(counter)}", files, total)
        return sample

    tools: dict[str, Callable[[], Sample]] = {PLANKTOS: planktos}
    for peer in PEERS:
        result = results[peer.name] = ToolResult(settings=peer.settings)
        try:
            result.version = peer.version()
        except ToolError as err:
            result.status, result.error = "missing", str(err)
            continue

        def run_peer(cmd: Callable[[Path, Path, int], list[str]] = peer.command) -> Sample:
            torrent = out / "peer.torrent"
            torrent.unlink(missing_ok=True)
            sample = measure(cmd(root, torrent, piece))
            check_torrent(torrent, root, files, total, piece)
            return sample

        tools[peer.name] = run_peer

    def run_round(order: list[str], record: bool) -> None:
        for name in order:
            if results[name].status != "ok":
                continue
            try:
                sample = tools[name]()
            except ToolError as err:
                if name == PLANKTOS:
                    raise SystemExit(f"build_bench: planktos build failed: {err}") from err
                results[name].status, results[name].error = "failed", str(err)
                continue
            if record:
                results[name].add(sample)

    load_before = load()
    run_round(list(tools), record=False)  # warms the page cache and checks every tool once
    rates, both = [], []
    names = list(tools)
    span = 1.0 if size == "full" else 0.2  # seconds per hash-rate measurement
    for r in range(runs):
        rates.append(hash_rate(seconds=span))
        both.append(hash_rate(("sha1", "sha256"), seconds=span))
        run_round(names[r % len(names) :] + names[: r % len(names)], record=True)
    sha1 = statistics.median(rates)
    planktos_rate = total / statistics.median(results[PLANKTOS].seconds)
    report: dict[str, Any] = {}
    for name, res in results.items():
        entry: dict[str, Any] = asdict(res)
        if res.status == "ok":
            seconds = statistics.median(res.seconds)
            entry |= {
                "seconds_median": seconds,
                "cpu_seconds_median": statistics.median(res.cpu_seconds),
                "MBps": total / seconds / 1e6,
                "pct_of_sha1": 100 * total / seconds / sha1,
                "planktos_ratio": planktos_rate * seconds / total,
                "peak_rss_MB": max(res.peak_rss) / 1e6,
            }
        report[name] = entry
    return {
        "tree_files": files,
        "tree_bytes": total,
        "peer_piece_length": piece,
        "planktos_piece_lengths": piece_lengths(SPECS[size]),
        "planktos_torrents": torrents,
        "sha1_samples_MBps": [r / 1e6 for r in rates],
        "sha1_all_core_MBps": sha1 / 1e6,
        # Every byte through SHA-1 and SHA-256: the least hashing planktos build does.
        "sha1_sha256_all_core_MBps": statistics.median(both) / 1e6,
        "load_before": load_before,
        "load_after_rounds": load(),
        "tools": report,
    }


def edit(root: Path, i: int) -> None:
    """Change one small page (what an author's edit does), as a new file: the hard-linked
    original in the tree cache stays as it was."""
    files = sorted((root / "pages").rglob("*.html"))
    target = files[(i * 7919) % len(files)]
    data = target.read_bytes() + f"<!-- edit {i} -->".encode()
    temp = target.with_name(f".{target.name}.edit")
    temp.write_bytes(data)
    os.replace(temp, target)


def rebuild_time(root: Path, cache: Path, samples: int) -> float:
    """Median seconds of a rebuild after one file changed, with a warm hash cache."""
    env = dict(os.environ, PLANKTOS_CACHE_DIR=str(cache))
    measure(build_cmd(root), env)
    measure(build_cmd(root), env)
    times = []
    for i in range(samples):
        edit(root, i)
        times.append(measure(build_cmd(root), env).seconds)
    return statistics.median(times)


def bench(size: str, runs: int, trees: Path, work: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine_info(),
        "size": size,
        "runs": runs,
    }
    result |= compare(size, runs, trees, work)
    # One-file rebuilds: of the tree of the comparison, and of a 10,000-file tree (at --size
    # tiny, to stay quick, the tiny tree stands in for it and is timed once, on one edit).
    samples = 5 if size == "full" else 1
    whole = rebuild_time(work / "site", work / "rebuild-cache-tree", samples)
    result["rebuild_one_file_tree_seconds"] = whole
    if size == "full":
        small_root = link_copy(cached_tree(trees, "rebuild"), work / "rebuild-site")
        result["rebuild_small_files"] = site_stats(small_root)[0]
        result["rebuild_one_file_small_tree_seconds"] = rebuild_time(
            small_root, work / "rebuild-cache-small", samples
        )
    else:
        result["rebuild_small_files"] = result["tree_files"]
        result["rebuild_one_file_small_tree_seconds"] = whole
    result["load_after"] = load()
    planktos = result["tools"][PLANKTOS]
    # The names earlier results used, for whoever compares with them.
    result |= {
        "build_seconds_median": planktos["seconds_median"],
        "build_MBps": planktos["MBps"],
        "build_pct_of_sha1": planktos["pct_of_sha1"],
        "peak_rss_MB": planktos["peak_rss_MB"],
    }
    return result


def kib(n: int) -> str:
    return f"{n // 1024 // 1024} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def markdown(r: dict[str, Any]) -> str:
    tools = r["tools"]
    pl = r["planktos_piece_lengths"]
    lines = [
        f"## Build ({r['size']} tree), {r['date']}",
        "",
        f"{describe(r['machine'])}. Load average (1, 5, 15 min) before: {r['load_before']}; "
        f"after: {r['load_after']}.",
        "",
        f"Tree: {r['tree_files']:,} files, {r['tree_bytes'] / 1e9:.2f} GB, warm page cache. "
        f"All-core SHA-1 rate (hashlib, 256 KiB buffers): {r['sha1_all_core_MBps']:,.0f} MB/s "
        f"(median of {r['runs']}, one before each round). Medians of {r['runs']} rounds; each "
        "round runs every tool once, in an order that rotates from round to round. The peers "
        f"make one v1 torrent of the tree with {kib(r['peer_piece_length'])} pieces, the "
        "largest piece length planktos build uses on this tree ("
        + ", ".join(f"{kib(n)} for {kind}" for kind, n in pl.items())
        + "). Every output was read back and checked before it counted. Hashing every byte "
        "with both SHA-1 and SHA-256, the least planktos build does (see below), runs at "
        f"{r['sha1_sha256_all_core_MBps']:,.0f} MB/s on all cores "
        f"({100 * r['sha1_sha256_all_core_MBps'] / r['sha1_all_core_MBps']:.0f} % of the "
        "SHA-1 rate).",
        "",
        "| tool | seconds | CPU seconds | MB/s | % of SHA-1 rate | planktos build ÷ tool "
        "| peak RSS |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, t in tools.items():
        if t["status"] == "ok":
            lines.append(
                f"| {name} | {t['seconds_median']:.2f} | {t['cpu_seconds_median']:.2f} "
                f"| {t['MBps']:,.0f} | {t['pct_of_sha1']:.0f} % | {t['planktos_ratio']:.2f}x "
                f"| {t['peak_rss_MB']:.0f} MB |"
            )
        else:
            lines.append(f"| {name} | {t['status']}: {t['error']} | | | | | |")
    lines += ["", "Versions and settings:", ""]
    lines += [f"- {name}: {t['version'] or '?'}; {t['settings']}" for name, t in tools.items()]
    lines += [
        "",
        f"planktos build does more than a torrent creator: it writes {r['planktos_torrents']:,} "
        "torrents (one per shard) instead of one; it hashes every byte with SHA-256 as well "
        "as SHA-1 (per file below 1 MiB, per piece above, so that a browser can verify a "
        "stream piece by piece); it links the web seed tree and writes the manifest and the "
        "runtime.",
        "",
        "| rebuild after one file changed (warm hash cache) | seconds |",
        "| --- | --- |",
        f"| {r['rebuild_small_files']:,} files | {r['rebuild_one_file_small_tree_seconds']:.2f} |",
        f"| the tree above | {r['rebuild_one_file_tree_seconds']:.2f} |",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SPECS), default="full", help="tree to build")
    parser.add_argument("--runs", type=int, default=3, help="rounds over the tools (>= 1)")
    parser.add_argument(
        "--trees",
        type=Path,
        default=Path(tempfile.gettempdir()) / "planktos-bench-trees",
        help="where generated trees are cached",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where build.* go")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: give at least 1")
    if args.size == "rebuild":
        parser.error("--size rebuild: that tree is only for the rebuild timing; use full or tiny")
    if not Path(GNU_TIME).exists():
        parser.error(f"{GNU_TIME} missing: install the Debian package time (make bench-deps)")
    with tempfile.TemporaryDirectory(prefix="planktos-bench-") as work:
        result = bench(args.size, args.runs, args.trees, Path(work))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "build.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (args.out / "build.md").write_text(table)
    plot_build(result, args.out / "build.png")
    print(table)
    problems = [f"{n}: {t['error']}" for n, t in result["tools"].items() if t["status"] != "ok"]
    for problem in problems:
        print(f"build_bench: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
