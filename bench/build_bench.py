"""Benchmark ``planktos build``: throughput against the machine's SHA-1 rate, rebuild times.

Each run measures the all-core SHA-1 rate (hashlib, 256 KiB buffers, one thread per core)
right before the build it is compared with, so the ratio holds on a noisy machine. Builds run
as the real CLI in a subprocess with an empty hash cache and a warm page cache. Reports
medians. Usage: ``python bench/build_bench.py [--size full|tiny] [--runs N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tree import SPECS, generate

RESULTS = Path(__file__).resolve().parent / "results"


def sha1_rate(seconds: float = 1.0) -> float:
    """Bytes per second of SHA-1 over 256 KiB buffers on all cores (hashlib frees the GIL)."""
    buf = bytes(range(256)) * 1024
    threads = os.cpu_count() or 1
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            hashlib.sha1(buf).digest()
            n += len(buf)
        counts[i] = n

    start = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


# Runs the CLI and reports the process's own peak RSS (VmHWM): getrusage's maxrss would
# include the benchmark's pages that the child carried until exec.
_WRAPPER = """
import sys
from planktos.cli import main
code = main(sys.argv[1:])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(hwm, file=sys.stderr)
sys.exit(code)
"""


def run_build(root: Path, cache: Path, *extra: str) -> tuple[float, int]:
    """Run the CLI build; returns wall seconds and peak RSS in bytes."""
    env = dict(os.environ, PLANKTOS_CACHE_DIR=str(cache))
    cmd = [sys.executable, "-c", _WRAPPER, "build", "--quiet", "--root", str(root), *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed: {proc.stderr.strip()}")
    return elapsed, int(proc.stderr.split()[-1]) * 1024


def site_files(root: Path) -> list[Path]:
    """The generated files, without build output or our marker."""
    return [
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.parts[len(root.parts)] not in ("planktos", "planktos.sw.js")
        and not p.name.startswith(".")
    ]


def age(root: Path) -> None:
    """Move mtimes into the past so the hash cache stores every file (none is racily new)."""
    past = time.time_ns() - 3600 * 10**9
    for p in site_files(root):
        os.utime(p, ns=(past, past))


def touch_one(root: Path, i: int) -> None:
    """Change one small file's content (what an author's edit does)."""
    files = sorted((root / "pages").rglob("*.html"))
    target = files[(i * 7919) % len(files)]
    target.write_bytes(target.read_bytes() + f"<!-- edit {i} -->".encode())


def bench(size: str, runs: int, workdir: Path) -> dict[str, Any]:
    spec = SPECS[size]
    tree = workdir / f"tree-{size}"
    if not (tree / ".complete").exists():
        shutil.rmtree(tree, ignore_errors=True)
        generate(tree, spec)
        (tree / ".complete").touch()
    total = sum(p.stat().st_size for p in site_files(tree))
    cache = workdir / "cache"
    run_build(tree, cache / "warm")  # warm the page cache
    rates, times, peaks = [], [], []
    for r in range(runs):
        rates.append(sha1_rate())
        shutil.rmtree(cache / f"cold{r}", ignore_errors=True)
        elapsed, peak = run_build(tree, cache / f"cold{r}")
        times.append(elapsed)
        peaks.append(peak)
    build_rate = total / statistics.median(times)
    sha1 = statistics.median(rates)

    # One-file rebuilds: the 10,000-file tree, and the same on the big tree.
    rebuild: dict[str, float] = {}
    for name, root in (("rebuild", workdir / "tree-rebuild"), (size, tree)):
        if size == "tiny" and name == "rebuild":
            root = tree
        if not (root / ".complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            generate(root, SPECS[name])
            (root / ".complete").touch()
        warm = cache / f"incremental-{name}"
        age(root)
        run_build(root, warm)
        run_build(root, warm)
        samples = []
        for i in range(max(runs, 5)):
            touch_one(root, i)
            samples.append(run_build(root, warm)[0])
        rebuild[name] = statistics.median(samples)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "size": size,
        "tree_bytes": total,
        "tree_files": len(site_files(tree)),
        "runs": runs,
        "sha1_all_core_MBps": sha1 / 1e6,
        "build_seconds_median": statistics.median(times),
        "build_MBps": build_rate / 1e6,
        "build_pct_of_sha1": 100 * build_rate / sha1,
        "peak_rss_MB": max(peaks) / 1e6,
        "rebuild_one_file_10k_seconds": rebuild.get("rebuild", rebuild[size]),
        "rebuild_one_file_tree_seconds": rebuild[size],
    }


def markdown(r: dict[str, Any]) -> str:
    rows = [
        ("tree", f"{r['tree_files']:,} files, {r['tree_bytes'] / 1e9:.2f} GB ({r['size']})"),
        ("all-core SHA-1 rate (hashlib)", f"{r['sha1_all_core_MBps']:,.0f} MB/s"),
        ("`planktos build`, empty hash cache", f"{r['build_seconds_median']:.2f} s"),
        ("build throughput", f"{r['build_MBps']:,.0f} MB/s"),
        ("as % of the SHA-1 rate", f"{r['build_pct_of_sha1']:.0f} %"),
        ("peak memory (RSS)", f"{r['peak_rss_MB']:.0f} MB"),
        ("rebuild, one file changed, 10,000 files", f"{r['rebuild_one_file_10k_seconds']:.2f} s"),
        ("rebuild, one file changed, whole tree", f"{r['rebuild_one_file_tree_seconds']:.2f} s"),
    ]
    lines = [
        f"Build benchmark, {r['date']}, {r['machine']}, medians of {r['runs']} runs",
        "",
        "| what | value |",
        "| --- | --- |",
    ]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SPECS), default="full")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="keep generated trees here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="planktos-bench-"))
    try:
        result = bench(args.size, args.runs, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "build.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (args.out / "build.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
