"""Benchmarks still run: each once on a tiny input (benchmarks are not tests of speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_build_bench_runs_on_a_tiny_tree(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "build_bench.py"),
            "--size",
            "tiny",
            "--runs",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "build.json").read_text())
    assert result["tree_files"] == 304
    assert result["build_MBps"] > 0 and 0 < result["build_pct_of_sha1"] < 100
    assert result["rebuild_one_file_10k_seconds"] > 0
    assert "as % of the SHA-1 rate" in (tmp_path / "build.md").read_text()


def test_tracker_bench_runs_quick(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *(sys.executable, str(BENCH / "tracker_bench.py")),
            *("--quick", "--rounds", "1", "--out", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "tracker.json").read_text())
    for name in ("planktos", "bittorrent-tracker"):
        medians = result["medians"][name]
        assert medians["announces_per_s_100"] > 0, medians
        assert medians["offers_per_s_100"] > 0, medians
        assert medians["kib_per_conn_200"] > 0, medians
        assert medians["hold_errors"] == 0, medians
    assert "announces/s, 100 sockets" in (tmp_path / "tracker.md").read_text()
    assert (tmp_path / "tracker.png").stat().st_size > 0
