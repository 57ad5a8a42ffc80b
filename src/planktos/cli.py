"""The ``planktos`` command line: thin argument parsing around the build and the server."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

from planktos import __version__
from planktos.build import DEFAULT_TRACKER, BuildOptions, BuildResult, build
from planktos.check.judge import check_site_url
from planktos.errors import InputError, PlanktosError
from planktos.inject import script_tag
from planktos.manifest import parse_runtime_option
from planktos.shards import parse_piece_size
from planktos.urls import check_base_url, check_tracker_url

T = TypeVar("T")

REDIS_TTL_S = 10.0
"""Default ``--redis-ttl``: a dead tracker process's peers are forgotten within 4/3 of it."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, as every Planktos error is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value!r}; give a whole number >= 1")
    return int(value)


def _port(value: str) -> int:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}; give 0-65535 (0: any free)")
    return int(value)


def _redis_url(value: str) -> str:
    scheme = value.partition("://")[0] if "://" in value else ""
    if scheme not in ("redis", "rediss", "unix"):
        raise argparse.ArgumentTypeError(
            f"invalid Redis URL {value!r}; give redis://HOST:PORT/DB (or rediss://, unix://)"
        )
    return value


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0.1 <= seconds <= 3600:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"invalid time {value!r}; give seconds from 0.1 to 3600")
    return seconds


def _amount(value: str) -> int:
    """A byte count or rate written as bytes or with a K, M or G suffix (powers of 1024)."""
    match = re.fullmatch(r"(\d+)\s*([kKmMgG]?)(?:i?[bB])?(?:/s)?", value.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"invalid amount {value!r}; give bytes or a number with K, M or G, e.g. 500K"
        )
    scale: int = 1024 ** " kmg".index(match[2].lower() or " ")
    return int(match[1]) * scale


def _grace(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 30 * 86400:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(
            f"invalid time {value!r}; give seconds from 0 to 2592000 (30 days)"
        )
    return seconds


def _add_redis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis",
        type=_redis_url,
        metavar="URL",
        help="share swarms with other tracker processes through this Redis server",
    )
    parser.add_argument(
        "--redis-ttl",
        type=_seconds,
        metavar="SECONDS",
        help=f"forget a silent process's peers after about this long (default {REDIS_TTL_S:g})",
    )


def _checked(check: Callable[[str], T]) -> Callable[[str], T]:
    """Turn a validator raising InputError into an argparse type."""

    def convert(value: str) -> T:
        try:
            return check(value)
        except InputError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    return convert


def make_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand (also read by the README test)."""
    parser = _Parser(prog="planktos", description="Serve a website's static files peer-to-peer.")
    parser.add_argument("--version", action="version", version=f"planktos {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("build", help="package a site: torrents, manifest, service worker")
    b.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="what to publish")
    b.add_argument(
        "--root", type=Path, default=Path("."), metavar="DIR", help="site root (default: cwd)"
    )
    b.add_argument(
        "--base-url", type=_checked(check_base_url), metavar="URL", help="URL the root is served at"
    )
    b.add_argument(
        "--tracker",
        action="append",
        type=_checked(check_tracker_url),
        metavar="URL",
        help=f"WebSocket tracker URL, repeatable (default: {DEFAULT_TRACKER} on the site)",
    )
    b.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip matches")
    b.add_argument(
        "--piece-size",
        type=_checked(parse_piece_size),
        metavar="SIZE",
        help="piece length, e.g. 256K",
    )
    b.add_argument(
        "--jobs", type=_positive, default=0, metavar="N", help="hashing threads (default: cores)"
    )
    b.add_argument(
        "--runtime",
        action="append",
        default=[],
        type=_checked(parse_runtime_option),
        metavar="NAME=VALUE",
        help="a browser runtime setting, repeatable, e.g. upload_kbps=500 or stats_interval_s=0",
    )
    b.add_argument("--quiet", action="store_true", help="print nothing but errors")
    b.add_argument("--uninstall", action="store_true", help="write the kill switch instead")
    b.add_argument("--inject", action="store_true", help="add the install script tag to HTML pages")

    s = sub.add_parser("serve", help="serve a built site with Range support and a tracker")
    s.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="site root (default: cwd)",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=_port, default=8080, help="port to listen on (0: any free)")
    s.add_argument("--access-log", type=Path, metavar="FILE", help="Common Log Format file")
    s.add_argument("--open-tracker", action="store_true", help="track any info hash")
    s.add_argument(
        "--base-url",
        type=_checked(check_base_url),
        metavar="URL",
        help="serve the site under this path, e.g. /docs/ (its build's --base-url)",
    )
    _add_redis_options(s)
    s.add_argument(
        "--stats-db", type=Path, metavar="PATH", help="SQLite file of the offload statistics"
    )

    st = sub.add_parser("stats", help="show the offload statistics that planktos serve kept")
    st.add_argument("site", nargs="?", type=Path, metavar="SITE", help="the served site's root")
    st.add_argument("--stats-db", type=Path, metavar="PATH", help="the statistics file to read")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")

    t = sub.add_parser("tracker", help="run the WebSocket tracker alone")
    t.add_argument("--host", default="127.0.0.1", help="address to listen on")
    t.add_argument("--port", type=_port, default=8000, help="port to listen on")
    t.add_argument(
        "--manifest",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="serve only these manifests' info hashes (default: open tracker)",
    )
    _add_redis_options(t)

    m = sub.add_parser("mirror", help="seed a Planktos site's files to its visitors from here")
    m.add_argument("url", metavar="URL", help="the site (or its planktos/manifest.json)")
    m.add_argument(
        "--dir",
        type=Path,
        default=Path("planktos-mirror"),
        metavar="DIR",
        help="where the shards are kept (default: ./planktos-mirror)",
    )
    m.add_argument(
        "--only",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="mirror only these files or directories of the site",
    )
    m.add_argument(
        "--upload-limit", type=_amount, default=0, metavar="RATE", help="bytes/s, e.g. 2M"
    )
    m.add_argument(
        "--download-limit", type=_amount, default=0, metavar="RATE", help="bytes/s, e.g. 2M"
    )
    m.add_argument(
        "--max-disk", type=_amount, metavar="SIZE", help="keep at most this much, e.g. 10G"
    )
    m.add_argument(
        "--poll",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how often to look for a new build (default 60)",
    )
    m.add_argument(
        "--grace",
        type=_grace,
        default=3600.0,
        metavar="SECONDS",
        help="keep shards a new build dropped this long (default 3600)",
    )
    m.add_argument(
        "--listen",
        default="0.0.0.0:0,[::]:0",
        metavar="INTERFACES",
        help="libtorrent's listen_interfaces (default: any port on every interface)",
    )
    m.add_argument("--json", action="store_true", help="print a JSON status line every second")
    c = sub.add_parser("check", help="check a deployed site from outside: one line per problem")
    c.add_argument("url", type=_checked(check_site_url), metavar="URL", help="the site's URL")
    c.add_argument("--json", action="store_true", help="print the findings as JSON")
    c.add_argument("--strict", action="store_true", help="exit non-zero on warnings too")
    c.add_argument(
        "--pages", type=_positive, default=10, metavar="N", help="pages to check (default 10)"
    )
    c.add_argument(
        "--timeout", type=_seconds, default=10.0, metavar="SECONDS", help="per request (10)"
    )

    d = sub.add_parser("demo", help="build and serve the bundled example site")
    d.add_argument("--host", default="127.0.0.1", help="address to listen on")
    d.add_argument("--port", type=_port, default=8080, help="port to listen on")
    return parser


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``planktos`` command; returns the exit status."""
    args = make_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.command == "build":
            return _build(args)
        if args.command == "serve":
            from planktos.server.run import serve

            serve(
                args.dir,
                host=args.host,
                port=args.port,
                access_log=args.access_log,
                open_tracker=args.open_tracker,
                **_redis_args(args),
                stats_db=args.stats_db,
                base_url=args.base_url,
            )
            return 0
        if args.command == "stats":
            from planktos.stats.terminal import show_stats

            return show_stats(site=args.site, stats_db=args.stats_db, as_json=args.json)
        if args.command == "tracker":
            from planktos.server.run import run_tracker

            run_tracker(
                host=args.host, port=args.port, manifests=args.manifest, **_redis_args(args)
            )
            return 0
        if args.command == "mirror":
            from planktos.mirror.run import MirrorOptions, mirror

            return mirror(
                MirrorOptions(
                    url=args.url,
                    directory=args.dir,
                    only=args.only,
                    upload_limit=args.upload_limit,
                    download_limit=args.download_limit,
                    max_disk=args.max_disk,
                    poll_s=args.poll,
                    grace_s=args.grace,
                    as_json=args.json,
                    interactive=sys.stderr.isatty() and os.environ.get("TERM") != "dumb",
                    listen=args.listen,
                )
            )
        if args.command == "check":
            from planktos.check.site import run_check

            return run_check(
                args.url,
                pages=args.pages,
                timeout_s=args.timeout,
                as_json=args.json,
                strict=args.strict,
            )
        if args.command == "demo":
            from planktos.demo import demo

            demo(host=args.host, port=args.port)
            return 0
    except PlanktosError as err:
        print(f"planktos {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"planktos {args.command}: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(args.command)


def _redis_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.redis_ttl is not None and args.redis is None:
        raise InputError("--redis-ttl", "only applies with --redis URL; add it or drop this")
    ttl = REDIS_TTL_S if args.redis_ttl is None else args.redis_ttl
    return {"redis_url": args.redis, "redis_ttl_s": ttl}


def _build(args: argparse.Namespace) -> int:
    opts = BuildOptions(
        root=args.root,
        paths=list(args.paths),
        base_url=args.base_url,
        trackers=args.tracker or [DEFAULT_TRACKER],
        excludes=args.exclude,
        piece_size=args.piece_size,
        jobs=args.jobs,
        uninstall=args.uninstall,
        inject=args.inject,
        runtime=dict(args.runtime),
    )
    if args.uninstall and args.inject:
        raise InputError("--inject", "cannot be combined with --uninstall; pick one")
    if args.quiet:
        build(opts)
        return 0
    from planktos.progress import BuildProgress, summary

    interactive = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    with BuildProgress(enabled=interactive) as progress:
        result: BuildResult = build(opts, progress)
    print(summary(result, opts), file=sys.stdout)
    if result.install_tag is False:
        print(no_install_tag_warning(opts.base_url), file=sys.stderr)
    return 0


def no_install_tag_warning(base_url: str | None) -> str:
    """The warning for a build none of whose pages loads install.js."""
    tag = script_tag(base_url).decode()
    return (
        "planktos build: warning: no page loads planktos/install.js, so visitors never get "
        f"the service worker; build with --inject, or add {tag} to your pages' <head>"
    )
