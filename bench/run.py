"""``make bench``: run every benchmark and refresh bench/README.md with the latest tables.

Each benchmark writes ``results/<name>.json``, ``<name>.md`` and ``<name>.png``. One that
fails or overruns its time is reported and the others still run; the exit status is 1 at the
end if any failed. ``BENCH_SIZE=tiny make bench`` runs them all on tiny inputs;
``python bench/run.py NAME...`` runs only those named and keeps the others' tables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
IN_NETNS = str(HERE.parent / "scripts" / "in-netns")
PY = sys.executable
MARK = "<!-- results -->"


@dataclass(frozen=True)
class Benchmark:
    """One entry of ``make bench``: commands run in order, all within ``timeout`` seconds."""

    name: str
    commands: list[list[str]]
    timeout: float


def benchmarks(size: str) -> list[Benchmark]:
    """Every benchmark, in the order they run; ``size`` is full or tiny. Budget: 22 min."""
    tiny = size == "tiny"
    return [
        Benchmark(
            "build",
            [[PY, str(HERE / "build_bench.py"), "--size", size, "--out", str(RESULTS)]],
            timeout=300,
        ),
        Benchmark(
            "scale",
            [
                [
                    IN_NETNS,
                    PY,
                    str(HERE / "scale_bench.py"),
                    "--browser",
                    "--out",
                    str(RESULTS),
                    *(["--quick"] if tiny else []),
                ]
            ],
            timeout=600,
        ),
        Benchmark(
            "swarm",
            [
                [
                    IN_NETNS,
                    PY,
                    str(HERE / "swarm_bench.py"),
                    "--out",
                    str(RESULTS),
                    *(["--quick"] if tiny else []),
                ],
                [PY, str(HERE / "plots.py"), "swarm", "--results", str(RESULTS)],
            ],
            timeout=300,
        ),
        Benchmark(
            "crowd",
            [
                [
                    IN_NETNS,
                    PY,
                    str(HERE / "crowd_bench.py"),
                    "--out",
                    str(RESULTS),
                    *(["--quick"] if tiny else []),
                ]
            ],
            timeout=720,
        ),
        Benchmark(
            "tracker",
            [
                [
                    PY,
                    str(HERE / "tracker_bench.py"),
                    "--out",
                    str(RESULTS),
                    *(["--quick"] if tiny else []),
                ]
            ],
            timeout=420,
        ),
        Benchmark(
            "tracker_redis",
            [
                [
                    PY,
                    str(HERE / "tracker_redis_bench.py"),
                    "--out",
                    str(RESULTS),
                    *(["--quick"] if tiny else []),
                ]
            ],
            timeout=240,
        ),
    ]


def run(bench: Benchmark) -> str:
    """Run one benchmark; returns "" when it succeeded, else what went wrong."""
    deadline = time.monotonic() + bench.timeout
    for cmd in bench.commands:
        print(f"== {bench.name}: {' '.join(cmd)}", flush=True)
        # A session of its own, so that an overrun ends the command and all it started.
        proc = subprocess.Popen(cmd, start_new_session=True)
        try:
            code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return f"ran out of its {bench.timeout:.0f} s"
        if code != 0:
            script = next((c for c in cmd if c.endswith(".py")), cmd[0])
            return f"{Path(script).name} exit status {code}"
    return ""


def write_readme(
    readme: Path, results: Path, names: list[str], outcomes: dict[str, tuple[str, float]]
) -> None:
    """Replace the part of ``readme`` after the results mark with the tables of ``names``;
    ``outcomes`` holds those that ran this time (problem or "", seconds)."""
    intro = readme.read_text().split(MARK)[0] if readme.exists() else "# Benchmarks\n\n"
    status = []
    for name in names:
        problem, seconds = outcomes.get(name, ("not run", 0.0))
        if name not in outcomes:
            status.append(f"{name} not run (its table below, if any, is from its own last run)")
        elif problem:
            status.append(f"{name} failed ({problem}; its table below, if any, is older)")
        else:
            status.append(f"{name} ok ({seconds:.0f} s)")
    parts = [
        f"Latest `make bench`: {time.strftime('%Y-%m-%d %H:%M %Z')}, {describe(machine_info())}. "
        + "; ".join(status)
        + ".\n"
    ]
    for name in names:
        table = results / f"{name}.md"
        if table.exists():
            part = table.read_text()
            if (results / f"{name}.png").exists():
                part += f"\n![{name}]({(results / f'{name}.png').relative_to(readme.parent)})\n"
            parts.append(part)
    readme.write_text(intro + MARK + "\n\n" + "\n".join(parts))


def run_all(
    benches: list[Benchmark], results: Path, readme: Path, only: list[str] | None = None
) -> int:
    """Run every benchmark (or those named in ``only``), whatever happens to the others,
    then refresh ``readme``."""
    outcomes: dict[str, tuple[str, float]] = {}
    for bench in benches:
        if only and bench.name not in only:
            continue
        start = time.monotonic()
        outcomes[bench.name] = (run(bench), time.monotonic() - start)
    write_readme(readme, results, [b.name for b in benches], outcomes)
    print(f"updated {readme}")
    failed = [f"{name}: {problem}" for name, (problem, _) in outcomes.items() if problem]
    for line in failed:
        print(f"make bench: {line}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    size = os.environ.get("BENCH_SIZE", "full")
    if size not in ("full", "tiny"):
        print(f"BENCH_SIZE={size}: use full or tiny", file=sys.stderr)
        return 2
    benches = benchmarks(size)
    unknown = sorted(set(argv) - {b.name for b in benches})
    if unknown:
        names = ", ".join(b.name for b in benches)
        print(
            f"run.py: no benchmark named {', '.join(unknown)}; choose from {names}", file=sys.stderr
        )
        return 2
    return run_all(benches, RESULTS, README, argv or None)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
