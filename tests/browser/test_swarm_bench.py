"""bench/swarm_bench.py still runs: 2 browsers on a tiny site (a benchmark, not a speed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.p2p

BENCH = Path(__file__).resolve().parents[2] / "bench" / "swarm_bench.py"


def test_swarm_bench_runs_quick(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "swarm.json").read_text())
    seq = result["sequential"]
    assert result["visitors"] == 2 and len(seq["visitors"]) == 2
    assert seq["one_copy_bytes"] > 100_000
    # Facts of the run, not speed (tests/browser/test_p2p.py holds the runtime to exact
    # figures): the sums add up. Whether the second visitor took bytes from the first depends
    # on timing: on a quiet loopback origin a page's files go to the origin unless its agent's
    # peers already hold them (docs/runtime.md, "Choosing a source").
    second = seq["visitors"][1]
    parts = ("from_peers", "from_web_seed", "from_origin_by_worker")
    assert second["downloaded_bytes"] == sum(second[k] for k in parts)
    assert second["viewed_bytes"] == seq["visitors"][0]["viewed_bytes"] == seq["one_copy_bytes"]
    assert seq["origin_multiple_under_control"] > 0
    assert result["timing"]["repeat_vs_plain_with_cache"] > 0
    assert result["timing"]["first_warm_swarm_vs_plain"] > 0
    assert result["console_errors"] == []
    assert "Swarm of 2 browsers" in (tmp_path / "swarm.md").read_text()
