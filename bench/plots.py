"""PNG plots of the benchmarks' JSON results (matplotlib, Agg backend: no display needed).

``python bench/plots.py build|crowd|swarm|tracker_redis [--results DIR]`` redraws
``DIR/<name>.png`` from ``DIR/<name>.json``; ``build_bench.py``, ``crowd_bench.py`` and
``tracker_redis_bench.py`` draw their own, and ``run.py`` draws the swarm plot after
``swarm_bench.py`` (which writes only JSON and Markdown).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the backend must be chosen first

RESULTS = Path(__file__).resolve().parent / "results"


def plot_build(result: dict[str, Any], path: Path) -> None:
    """Throughput of each tool as a bar, with the all-core SHA-1 rate as the limit line."""
    tools = [(n, t) for n, t in result["tools"].items() if t["status"] == "ok"]
    names = [n for n, _ in tools][::-1]
    rates = [t["MBps"] for _, t in tools][::-1]
    sha1 = result["sha1_all_core_MBps"]
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(names) + 1.8), dpi=110)
    bars = ax.barh(
        names, rates, color=["#2b7bba" if n == "planktos build" else "#9aa5b1" for n in names]
    )
    for bar, rate in zip(bars, rates, strict=True):
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {rate:,.0f} MB/s ({100 * rate / sha1:.0f} %)",
            va="center",
            fontsize=8,
        )
    ax.axvline(sha1, color="#c0392b", linestyle="--", label=f"all-core SHA-1 rate {sha1:,.0f} MB/s")
    if "sha1_sha256_all_core_MBps" in result:
        ax.axvline(
            result["sha1_sha256_all_core_MBps"],
            color="#555555",
            linestyle="-.",
            label="SHA-1 + SHA-256 of every byte (planktos build's hashing)",
        )
    ax.axvline(0.75 * sha1, color="#c0392b", linestyle=":", label="75 % of it (the target)")
    ax.set_xlim(0, sha1 * 1.25)
    ax.set_xlabel("MB/s (median, warm page cache)")
    ax.set_title(
        f"Build: {result['tree_files']:,} files, {result['tree_bytes'] / 1e9:.2f} GB, "
        f"{result['date']}",
        fontsize=10,
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# Where each visitor's bytes came from, in the swarm bench's JSON (swarm_bench.py).
SOURCES = [
    ("from_peers", "from peers (WebRTC)", "#27ae60"),
    ("from_web_seed", "web seed (origin)", "#e67e22"),
    ("from_origin_by_worker", "origin, by the service worker", "#c0392b"),
    ("first_page_bytes_before_control", "first page, before the worker", "#7f8c8d"),
]


def plot_swarm(result: dict[str, Any], path: Path) -> None:
    """Bytes by source per visitor, stacked; one panel per phase, viewed bytes marked."""
    phases = [
        (k, t)
        for k, t in (("sequential", "one after another"), ("concurrent", "all at once"))
        if k in result
    ]
    fig, axes = plt.subplots(1, len(phases), figsize=(5 * len(phases), 4), dpi=110, squeeze=False)
    for ax, (key, title) in zip(axes[0], phases, strict=True):
        visitors = result[key]["visitors"]
        names = [v["name"] for v in visitors]
        bottom = [0.0] * len(visitors)
        for field, label, color in SOURCES:
            values = [v.get(field, 0) / 1e6 for v in visitors]
            ax.bar(names, values, bottom=bottom, label=label, color=color)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.scatter(
            names,
            [v["viewed_bytes"] / 1e6 for v in visitors],
            marker="_",
            s=600,
            color="black",
            label="viewed",
            zorder=3,
        )
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("MB")
    title = (
        f"Bytes by source: swarm of {result.get('visitors', '?')} browsers on "
        f"{result.get('site', '?')}"
    )
    _finish(fig, axes[0][0], title, path, legend_fontsize=7, bottom=0.07)


def _finish(
    fig: Any, ax: Any, title: str, path: Path, *, legend_fontsize: int, bottom: float
) -> None:
    """One legend under the panels (from ``ax``), the title, then save and close."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=len(labels),
        fontsize=legend_fontsize,
        frameon=False,
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def plot_tracker_redis(result: dict[str, Any], path: Path) -> None:
    """Announces/s and relay latency under load of each setup, at each number of sockets."""
    rows = result["table"]
    setups = list(dict.fromkeys(row["setup"] for row in rows))
    counts = sorted({row["connections"] for row in rows})
    panels = [
        ("announces_per_s", "announces/s (median)"),
        ("latency_p50_ms", "relay latency p50 under load (ms)"),
    ]
    colors = ["#9aa5b1", "#e67e22", "#2b7bba", "#27ae60"]
    fig, axes = plt.subplots(1, len(panels), figsize=(10, 4), dpi=110)
    width = 0.8 / len(setups)
    for ax, (field, label) in zip(axes, panels, strict=True):
        for i, setup in enumerate(setups):
            by_count = {r["connections"]: r for r in rows if r["setup"] == setup}
            xs = [c + (i - (len(setups) - 1) / 2) * width for c in range(len(counts))]
            ys = [by_count.get(n, {}).get(field) or 0 for n in counts]
            ax.bar(xs, ys, width, label=setup, color=colors[i % len(colors)])
        ax.set_xticks(range(len(counts)), [f"{n:,} sockets" for n in counts])
        ax.set_title(label, fontsize=10)
    env = result["environment"]
    title = (
        f"Tracker scale-out through Redis, {env['cores']} cores shared by "
        f"load, trackers and Redis ({env['date']})"
    )
    _finish(fig, axes[0], title, path, legend_fontsize=8, bottom=0.06)


def plot_crowd(result: dict[str, Any], path: Path) -> None:
    """PLAIN against PLANKTOS, one pair of bars per measure: the crowd's load times, origin
    bytes and CPU; the quiet origin's load times; the docs site's origin bytes per visitor."""
    panels: list[tuple[str, list[tuple[str, float | None, float | None]]]] = []
    if "crowd" in result:
        c = result["crowd"]["summary"]
        pk = c["planktos"]
        mark = "" if c.get("page_load_ratios_valid", True) else " (CPU-bound)"
        panels.append(
            (
                f"crowd: median ms{mark}",
                [(m, c["plain"]["times_ms"][m], c["planktos"]["times_ms"][m])
                 for m in result["crowd"]["measures"]],
            )
        )  # fmt: skip
        panels.append(
            (
                "crowd: origin MB, peers MB, CPU-s per visit",
                [
                    ("origin MB", _mb(c["plain"]["origin_bytes"]), _mb(pk["origin_bytes"])),
                    ("from peers MB", _mb(c["plain"]["from_peers"]), _mb(pk["from_peers"])),
                    ("CPU-s/visit", c["plain"]["visitors_cpu_s_per_visit"],
                     c["planktos"]["visitors_cpu_s_per_visit"]),
                ],
            )
        )  # fmt: skip
    if "quiet" in result:
        q = result["quiet"]["summary"]
        bars = []
        for visit in ("first", "repeat"):
            for m in ("gallery.html", "video.html", "first frame"):
                t = q[visit]["times_ms"]
                bars.append((f"{visit}: {m}", t["plain"].get(m), t["planktos"].get(m)))
        panels.append(("quiet origin: median ms", bars))
    if "docs" in result:
        per = result["docs"]["summary"]["origin_bytes_per_visitor"]
        panels.append(
            (
                "docs: origin MB per visitor",
                [("per visitor", _mb(per["plain"]), _mb(per["planktos"]))],
            )
        )
    widths = [max(2, len(bars)) for _, bars in panels]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(1.1 * sum(widths) + 1, 4),
        dpi=110,
        squeeze=False,
        gridspec_kw={"width_ratios": widths},
    )
    for ax, (title, bars) in zip(axes[0], panels, strict=True):
        xs = range(len(bars))
        for offset, index, label, color in (
            (-0.2, 1, "PLAIN", "#9aa5b1"),
            (0.2, 2, "PLANKTOS", "#2b7bba"),
        ):
            values = [float(b[index] or 0) for b in bars]
            ax.bar([x + offset for x in xs], values, 0.4, label=label, color=color)
        ax.set_xticks(list(xs), [b[0] for b in bars], rotation=30, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
    title = f"Crowd benchmark, {result.get('date', '')}: PLAIN vs PLANKTOS (medians)"
    _finish(fig, axes[0][0], title, path, legend_fontsize=8, bottom=0.06)


def _mb(value: float | None) -> float | None:
    return None if value is None else value / 1e6


PLOTS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "build": plot_build,
    "crowd": plot_crowd,
    "swarm": plot_swarm,
    "tracker_redis": plot_tracker_redis,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=sorted(PLOTS))
    parser.add_argument("--results", type=Path, default=RESULTS, help="where <name>.json is")
    args = parser.parse_args()
    source = args.results / f"{args.name}.json"
    try:
        result = json.loads(source.read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"plots: cannot read {source}: {err}") from err
    PLOTS[args.name](result, args.results / f"{args.name}.png")
    print(f"wrote {args.results / args.name}.png")


if __name__ == "__main__":
    main()
