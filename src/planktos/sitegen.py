"""What the MkDocs plugin and the Sphinx extension share: their options, checked, and the build.

Both run the same :func:`planktos.build.build` as ``planktos build --inject`` on the
generator's output directory, with the base URL taken from the path of the generator's own
site URL. Nothing here imports MkDocs or Sphinx: they are optional extras.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from planktos.build import DEFAULT_TRACKER, BuildOptions, build
from planktos.errors import InputError
from planktos.manifest import check_runtime
from planktos.progress import summary
from planktos.shards import parse_piece_size
from planktos.urls import check_base_url, check_tracker_url


@dataclass(slots=True)
class Settings:
    """The integrations' options (the ``planktos build`` flags that apply), already checked."""

    enabled: bool = True
    trackers: list[str] = field(default_factory=lambda: [DEFAULT_TRACKER])
    excludes: list[str] = field(default_factory=list)
    piece_size: int | None = None
    jobs: int | None = None  # None: one hashing thread per core
    inject: bool = True
    uninstall: bool = False
    runtime: dict[str, Any] = field(default_factory=dict)  # browser runtime settings


def check_bool(value: object) -> bool:
    """A yes/no option: true or false."""
    if not isinstance(value, bool):
        raise InputError(repr(value), "expected true or false")
    return value


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InputError(repr(value), f"expected a list of {what}")
    return list(value)


def check_trackers(value: object) -> list[str]:
    """Tracker URLs, as ``--tracker``: ws(s) URLs or absolute paths, at least one."""
    trackers = _strings(value, "tracker URLs, e.g. [wss://tracker.example.com/]")
    if not trackers:
        raise InputError(
            "[]", f"no tracker; leave the option out for {DEFAULT_TRACKER} on the site"
        )
    for tracker in trackers:
        if tracker == DEFAULT_TRACKER:  # relative to the base: the tracker of `planktos serve`
            continue
        try:
            check_tracker_url(tracker)
        except InputError:
            raise InputError(
                repr(tracker), "invalid tracker; give a ws:// or wss:// URL or a path such as /t"
            ) from None
    return trackers


def check_excludes(value: object) -> list[str]:
    """Globs, as ``--exclude``: names at any depth without ``/``, paths from the root with it."""
    globs = _strings(value, "globs, e.g. ['*.map', 'drafts/*']")
    for glob in globs:
        if not glob.strip():
            raise InputError(repr(glob), "empty exclude glob; remove it")
    return globs


def check_piece_size(value: object) -> int | None:
    """A piece length, as ``--piece-size``: bytes or ``256K``/``1M``; None for the default."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(repr(value), "expected a piece size such as 256K, or nothing")
    return parse_piece_size(str(value))


def check_jobs(value: object) -> int | None:
    """Hashing threads, as ``--jobs``: a whole number >= 1; None for one per core."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(repr(value), "expected a whole number >= 1, or nothing for one per core")
    return value


# Option name (MkDocs spelling; Sphinx prefixes ``planktos_``) → its check.
CHECKS: dict[str, Callable[[object], object]] = {
    "enabled": check_bool,
    "trackers": check_trackers,
    "excludes": check_excludes,
    "piece_size": check_piece_size,
    "jobs": check_jobs,
    "inject": check_bool,
    "uninstall": check_bool,
    "runtime": check_runtime,
}


def base_from_site_url(url: str | None, option: str) -> str | None:
    """The base URL of the build: the path of the generator's site URL (None at the root).

    Only the path is used, so the output works on whatever origin serves it (a local preview
    included); the torrents then carry no absolute web seed or tracker URLs.
    """
    if not url:
        return None
    path = urlsplit(url).path or "/"
    if path == "/":
        return None
    try:
        return check_base_url(path)
    except InputError:
        raise InputError(
            repr(url), f"invalid {option}; give an absolute URL such as https://example.com/docs/"
        ) from None


def build_site(root: Path, base_url: str | None, settings: Settings) -> str:
    """Run ``planktos build --inject`` (or ``--uninstall``) on ``root``; returns the summary.

    Raises :class:`planktos.errors.PlanktosError` as the CLI would report it; the previous
    Planktos output, if any, is then left as it was.
    """
    opts = BuildOptions(
        root=root,
        base_url=base_url,
        trackers=settings.trackers,
        excludes=settings.excludes,
        piece_size=settings.piece_size,
        jobs=settings.jobs or 0,
        uninstall=settings.uninstall,
        inject=settings.inject and not settings.uninstall,
        runtime=settings.runtime,
    )
    return summary(build(opts), opts)
