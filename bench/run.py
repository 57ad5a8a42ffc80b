"""``make bench``: run every benchmark and refresh bench/README.md with the latest tables.

Benchmarks: ``build_bench.py`` (build throughput against the all-core SHA-1 rate, one-file
rebuilds, peak memory). ``BENCH_SIZE=tiny make bench`` runs them on a tiny input.
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
    code = subprocess.call(
        [sys.executable, str(HERE / "build_bench.py"), "--size", size, "--out", str(RESULTS)]
    )
    if code != 0:
        return code
    tables = [(RESULTS / "build.md").read_text()]
    readme = HERE / "README.md"
    intro = readme.read_text().split("<!-- results -->")[0] if readme.exists() else ""
    readme.write_text(intro + "<!-- results -->\n\n" + "\n".join(tables))
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
