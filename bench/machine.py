"""What a benchmark ran on: CPU, cores, RAM, kernel, Python and the planktos revision.

Shared by the benchmarks and ``run.py`` so every table names its machine the same way.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the architecture where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def ram_gb() -> float:
    """Total RAM in GB (10^9 bytes)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return 0.0


def planktos_rev() -> str:
    """The git revision of this checkout, marked when src/ has uncommitted changes."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" with uncommitted changes in src/" if dirty else "")


def machine_info() -> dict[str, str | int | float]:
    """The facts a reader needs to compare our numbers with theirs."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "ram_GB": round(ram_gb(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "planktos": planktos_rev(),
    }


def describe(info: dict[str, str | int | float]) -> str:
    """One line: ``AMD EPYC, 2 cores, 24.3 GB RAM, Linux 6.1, Python 3.11.7, planktos abc123``."""
    return (
        f"{info['cpu']}, {info['cores']} cores, {info['ram_GB']} GB RAM, "
        f"Linux {info['kernel']}, Python {info['python']}, planktos {info['planktos']}"
    )


def load() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())
