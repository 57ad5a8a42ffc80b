"""``make bench``: run every benchmark and refresh bench/README.md with the latest tables.

Benchmarks: ``build_bench.py`` (build throughput against the all-core SHA-1 rate, one-file
rebuilds, peak memory), ``swarm_bench.py`` (4 real browsers on the demo site, run in a
loopback-only network namespace) and ``tracker_redis_bench.py`` (two tracker processes
sharing swarms through Redis against one process). ``BENCH_SIZE=tiny make bench`` runs them
on a tiny input.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def main() -> int:
    size = os.environ.get("BENCH_SIZE", "full")
    runs = [
        [sys.executable, str(HERE / "build_bench.py"), "--size", size, "--out", str(RESULTS)],
        [
            str(HERE.parent / "scripts" / "in-netns"),
            sys.executable,
            str(HERE / "swarm_bench.py"),
            "--out",
            str(RESULTS),
            *(["--quick"] if size == "tiny" else []),
        ],
        [
            sys.executable,
            str(HERE / "tracker_redis_bench.py"),
            "--out",
            str(RESULTS),
            *(["--quick"] if size == "tiny" else []),
        ],
    ]
    for cmd in runs:
        code = subprocess.call(cmd)
        if code != 0:
            return code
    tables = [(RESULTS / name).read_text() for name in ("build.md", "swarm.md", "tracker_redis.md")]
    readme = HERE / "README.md"
    intro = readme.read_text().split("<!-- results -->")[0] if readme.exists() else ""
    readme.write_text(intro + "<!-- results -->\n\n" + "\n".join(tables))
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
