"""Build progress: a rich progress bar on a terminal, one summary line always."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from planktos.build import BuildOptions, BuildResult
from planktos.walk import printable, summarize_skips

SHOWN_SKIPS = 10


class BuildProgress:
    """Shows files, bytes, rate and ETA while hashing; silent when not ``enabled``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> BuildProgress:
        if self.enabled:
            self._bar = Progress(
                TextColumn("hashing {task.fields[files]} files"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar:
            self._bar.stop()

    def start(self, files: int, total_bytes: int) -> None:
        """Begin a bar for ``files`` files holding ``total_bytes``."""
        if self._bar:
            self._task = self._bar.add_task("hash", total=total_bytes, files=files)

    def advance(self, nbytes: int) -> None:
        """Count ``nbytes`` more bytes hashed (thread-safe)."""
        if self._bar and self._task is not None:
            with self._lock:
                self._bar.advance(self._task, nbytes)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def summary(result: BuildResult, opts: BuildOptions) -> str:
    """One line saying what the build did, every skip included."""
    if opts.uninstall:
        return f"planktos build: wrote the kill switch (build {result.build}) in {opts.root}"
    rate = result.hashed_bytes / result.seconds if result.seconds else 0.0
    line = (
        f"planktos build: {result.files} files ({_size(result.bytes)}) in {result.shards} shards,"
        f" {result.changed_shards} changed; hashed {_size(result.hashed_bytes)} in"
        f" {result.seconds:.2f} s ({_size(rate)}/s); build {result.build}"
    )
    if result.injected:
        report = result.injected
        line += f"; install script injected into {len(report.injected)} pages"
        line += f" ({len(report.present)} had it)"
        if report.no_head:
            line += f", not into {len(report.no_head)} without <head>: " + ", ".join(
                printable(rel) for rel in report.no_head[:SHOWN_SKIPS]
            )
    if result.copies:
        line += f"; {result.copies} web seed files copied (no hard links on this filesystem)"
    if result.skipped:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(summarize_skips(result.skipped).items()))
        names = ", ".join(printable(s.rel) for s in result.skipped[:SHOWN_SKIPS])
        more = len(result.skipped) - SHOWN_SKIPS
        line += f"; skipped {len(result.skipped)} ({counts}): {names}"
        line += f" and {more} more" if more > 0 else ""
    return line
