"""bench/crowd_bench.py still runs: 2 browsers, one round (a benchmark, not a speed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.p2p

BENCH = Path(__file__).resolve().parents[2] / "bench" / "crowd_bench.py"


def test_crowd_bench_runs_quick(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "crowd.json").read_text())
    # The cap held (a timed download through the HTB class: 16 Mbit/s, give or take).
    assert 8 < result["cap_check"]["mbit_s"] < 20
    runs = result["crowd"]["runs"]
    assert [r["mode"] for r in runs] == ["plain", "planktos"]
    for run in runs:
        assert len(run["visitors"]) == 2
        assert run["origin_bytes"]["total"] > 1_000_000
        assert run["visitors_cpu_s"] > 0
        assert run["machine"]["seconds"] > 0
        for visitor in run["visitors"]:
            # Facts of the run, not speed: every step finished and the video played.
            assert None not in visitor["times_ms"].values(), visitor["errors"]
            assert set(visitor["times_ms"]) == {"/", "gallery.html", "video.html", "first frame"}
            assert visitor["video"]["played_s"] > 0
    plain, planktos = runs
    assert plain["origin_bytes"]["runtime_and_metadata"] == 0
    assert planktos["origin_bytes"]["runtime_and_metadata"] > 0
    assert planktos["visitors"][1]["worker"]["type"] == "stats"
    summary = result["crowd"]["summary"]
    assert summary["ratios"]["origin_bytes"] > 0
    quiet = result["quiet"]["summary"]
    assert quiet["first"]["median_ratio"] > 0 and quiet["repeat"]["median_ratio"] > 0
    assert "docs" not in result
    assert "Flash crowd: 2 visitors" in (tmp_path / "crowd.md").read_text()
    assert (tmp_path / "crowd.png").stat().st_size > 10_000
