"""Run ``planktos serve`` and ``planktos tracker`` until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from planktos.errors import InputError
from planktos.server.accesslog import ClfAccessLogger, close_access_log, open_access_log
from planktos.server.app import MANIFEST, create_app
from planktos.server.deadline import HEAD_TIMEOUT_S, DeadlineSite, HeadDeadline
from planktos.stats.db import LEGACY_NAME, check_outside, default_db_path
from planktos.tracker.allowed import AnyManifest, ManifestHashes
from planktos.tracker.cluster import TrackerCluster
from planktos.tracker.standalone import TrackerServer

_SHUTDOWN_S = 15.0  # closing sockets waits up to 5 s for their close frames; Redis up to 3 s
_STRAGGLERS_S = 2.0

log = logging.getLogger(__name__)


async def start(
    app: web.Application,
    host: str,
    port: int,
    access_log: logging.Logger | None,
    head_timeout_s: float = HEAD_TIMEOUT_S,
) -> tuple[web.AppRunner, int]:
    """Start ``app`` on host:port; returns the runner and the bound port (for port 0).

    A connection whose request head (or WebSocket handshake) is not complete
    ``head_timeout_s`` after its first byte is cut (:mod:`planktos.server.deadline`).
    """
    deadline = HeadDeadline(head_timeout_s)
    app.middlewares.append(deadline.middleware)
    if access_log is None:
        runner = web.AppRunner(app, access_log=None)
    else:
        runner = web.AppRunner(app, access_log_class=ClfAccessLogger, access_log=access_log)
    await runner.setup()
    site = DeadlineSite(runner, host, port, deadline)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise listen_error(host, port, err) from err
    return runner, site.bound_port


def listen_error(host: str, port: int, err: OSError) -> InputError:
    """The one-line error for a port we cannot listen on."""
    if err.errno == errno.EADDRINUSE:
        return InputError(f"{host}:{port}", "address in use; pick another --port")
    return InputError(f"{host}:{port}", f"cannot listen ({err.strerror})")


def run_app(
    app: web.Application,
    host: str,
    port: int,
    access_log: logging.Logger | None,
    on_started: Callable[[str], None],
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; ``on_started`` gets the base URL once it listens.

    The stop signals only set an event that the main task waits on, so that shutdown starts
    from one known place. Raised as KeyboardInterrupt from inside the loop instead, a signal
    could land in a transport callback, where uvloop reports it as a transport error and
    swallows it: the process then never stopped. A second SIGTERM during shutdown kills it.
    """

    async def main() -> None:
        runner, bound = await start(app, host, port, access_log)
        try:
            on_started(f"http://{url_host(host)}:{bound}/")
            sys.stdout.flush()
            await _until_stopped()
        finally:
            await _bounded_shutdown(runner.cleanup())

    run_server(main())


async def _bounded_shutdown(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run ``cleanup`` for at most ``_SHUTDOWN_S``."""
    task = asyncio.ensure_future(cleanup)
    # asyncio.wait, not wait_for: a task that ignores cancellation (seen in redis-py)
    # must not hold the process after its time is up.
    if (await asyncio.wait({task}, timeout=_SHUTDOWN_S))[1]:
        log.warning("shutdown took over %.0f s; stopping anyway", _SHUTDOWN_S)


async def _until_stopped() -> None:
    """Wait for SIGINT or SIGTERM (or, where the loop cannot watch signals, forever)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watched: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows; not the main thread
            break
        watched.append(signum)
    try:
        await stop.wait()
    finally:
        for signum in watched:
            loop.remove_signal_handler(signum)


def run_server(main: Coroutine[Any, Any, None]) -> None:
    """Run a server's ``main`` with all the open files it may need, until it returns."""
    raise_open_files_limit()
    with contextlib.suppress(KeyboardInterrupt):
        run_until_done(main)


def run_until_done(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on a new event loop (uvloop where installed), then cancel what is left.

    Unlike ``asyncio.run``, tasks that ignore their cancellation are waited for only
    ``_STRAGGLERS_S``, then abandoned with a warning, so that a stopped server exits.
    """
    loop = _new_event_loop()
    try:
        loop.run_until_complete(main)
    finally:
        try:
            rest = asyncio.all_tasks(loop)
            for task in rest:
                task.cancel()
            if rest:
                _, pending = loop.run_until_complete(asyncio.wait(rest, timeout=_STRAGGLERS_S))
                if pending:
                    log.warning("%d tasks ignored their cancellation; exiting", len(pending))
            loop.run_until_complete(
                asyncio.wait({loop.create_task(loop.shutdown_asyncgens())}, timeout=_STRAGGLERS_S)
            )
        finally:
            loop.close()


def raise_open_files_limit() -> None:
    """Raise the soft limit on open files to the hard one: every tracker socket is a file,
    and a soft limit of 1024 (a common default) would refuse the 1,021st browser."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):  # macOS caps it below an infinite hard
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop where uvloop is installed (not on Windows), else asyncio's.

    uvloop's libuv loop and transports cut the tracker's CPU time per message and memory per
    held socket (bench/tracker_bench.py).
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def url_host(host: str) -> str:
    """Bracket IPv6 literals for URLs."""
    return f"[{host}]" if ":" in host else host


def ws_url(http_url: str) -> str:
    """The WebSocket URL of the same place."""
    return "ws" + http_url.removeprefix("http")


def make_cluster(redis_url: str | None, ttl_s: float) -> TrackerCluster | None:
    """The link to the other tracker processes through Redis, if ``--redis`` was given."""
    if redis_url is None:
        return None
    try:
        from planktos.tracker.redis_cluster import RedisCluster
    except ImportError as err:
        if (err.name or "").partition(".")[0] != "redis":
            raise
        raise InputError(
            "--redis", "needs the redis package; install it with: pip install planktos[redis]"
        ) from err
    return RedisCluster(redis_url, ttl_s=ttl_s)


def serve(
    site: Path,
    *,
    host: str,
    port: int,
    access_log: Path | None,
    open_tracker: bool,
    redis_url: str | None = None,
    redis_ttl_s: float = 10.0,
    stats_db: Path | None = None,
    base_url: str | None = None,
) -> None:
    """Serve a built site until interrupted; with ``redis_url``, as one of several trackers.

    ``base_url`` (a path such as ``/docs/``, or a URL whose path is taken) serves the site
    under that path, as a site built with that ``--base-url`` is deployed.
    """
    base_path = urlsplit(base_url).path if base_url else "/"
    if not site.is_dir():
        raise InputError(site, "is not a directory; pass the site root to serve")
    manifest = site / MANIFEST
    note = ""
    if not manifest.is_file():
        note = f"planktos serve: note: {manifest} missing; run planktos build first"
    else:
        try:
            built = json.loads(manifest.read_text(encoding="utf-8"))
        except ValueError as err:
            if not open_tracker:
                raise InputError(manifest, "is not valid JSON; run planktos build again") from err
            built = None
        note = base_note(built, base_path)
    if access_log is not None and access_log.resolve().is_relative_to(site.resolve()):
        raise InputError(
            access_log,
            "lies inside the served site, which would publish it; pick a path outside it",
        )
    cluster = make_cluster(redis_url, redis_ttl_s)
    db = stats_db or default_db_path(site, access_log)
    check_outside(db, site)
    if stats_db is None and not db.exists() and (legacy := db.with_name(LEGACY_NAME)).is_file():
        legacy_note = (
            f"planktos serve: note: the statistics now go to {db.name}, one file per site; "
            f"pass --stats-db {legacy} to keep adding to the old shared one"
        )
        note = f"{note}\n{legacy_note}" if note else legacy_note
    logger = open_access_log(access_log) if access_log else None

    def started(url: str) -> None:
        if note:
            print(note, file=sys.stderr)
        url += base_path[1:]
        print(f"Serving {site} at {url} (tracker: {ws_url(url)}planktos/tracker)")
        print(f"Dashboard: {url}planktos/dashboard (stats kept in {db})")

    try:
        app = create_app(
            site, open_tracker=open_tracker, cluster=cluster, stats_db=db, base_path=base_path
        )
        run_app(app, host, port, logger, started)
    finally:
        if logger:
            close_access_log(logger)


def base_note(manifest: object, base_path: str) -> str:
    """A note when the site was built for another path than it is served at (or "")."""
    if not isinstance(manifest, dict) or manifest.get("uninstalled"):
        return ""
    built = manifest.get("base")
    built_path = urlsplit(built).path if isinstance(built, str) else "/"
    if built_path == base_path:
        return ""
    option = f"--base-url {built_path}" if built_path != "/" else "no --base-url"
    return (
        f"planktos serve: note: the site was built for {built_path}, served at {base_path}; "
        f"serve it with {option} (or rebuild with --base-url {base_path})"
    )


def run_tracker(
    *,
    host: str,
    port: int,
    manifests: list[Path],
    redis_url: str | None = None,
    redis_ttl_s: float = 10.0,
) -> None:
    """Run the tracker alone; with manifests, only their info hashes are served."""
    watched = []
    for path in manifests:
        try:
            watched.append(ManifestHashes.required(path))
        except (OSError, ValueError) as err:
            raise InputError(path, "is not a readable planktos manifest; pass a built one") from err

    cluster = make_cluster(redis_url, redis_ttl_s)
    tracker = TrackerServer(is_allowed=AnyManifest(watched) if manifests else None, cluster=cluster)

    async def main() -> None:
        try:
            bound = await tracker.start(host, port)
        except OSError as err:
            raise listen_error(host, port, err) from err
        try:
            url = f"http://{url_host(host)}:{bound}/"
            print(f"Tracker at {ws_url(url)} (stats: {url}stats)", flush=True)
            await _until_stopped()
        finally:
            await _bounded_shutdown(tracker.close())

    run_server(main())
