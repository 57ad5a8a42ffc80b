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


def test_tracker_redis_bench_runs_tiny(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "tracker_redis_bench.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "tracker_redis.json").read_text())
    rows = {row["setup"]: row for row in result["table"]}
    assert set(rows) == {"one", "one+redis", "two+redis"}
    assert all(row["announces_per_s"] > 0 and row["errors"] == 0 for row in rows.values())
    assert rows["one"]["relays_across_processes"] == 0
    assert rows["two+redis"]["relays_across_processes"] > 0  # offers really crossed Redis
    assert result["design_check"]["redis_round_trip_us"] > 0
    assert "| two+redis |" in (tmp_path / "tracker_redis.md").read_text()
