"""The ``planktos serve`` application: static files, the embedded tracker, the stats API."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from planktos.server.static import StaticFiles
from planktos.stats.db import StatsDb
from planktos.stats.web import StatsService
from planktos.tracker.allowed import ManifestHashes
from planktos.tracker.cluster import TrackerCluster
from planktos.tracker.server import TrackerService

TRACKER_PATH = "/planktos/tracker"
MANIFEST = "planktos/manifest.json"


_STATIC = web.AppKey("static", StaticFiles)
_TRACKER = web.AppKey("tracker", TrackerService)


def create_app(
    site: Path,
    *,
    open_tracker: bool = False,
    cluster: TrackerCluster | None = None,
    stats_db: Path | str = ":memory:",
    base_path: str = "/",
) -> web.Application:
    """Serve ``site`` with the tracker at /planktos/tracker, stats at /planktos/stats and a
    dashboard at /planktos/dashboard (aggregates kept in the SQLite file ``stats_db``).

    With ``cluster``, the tracker shares its swarms with other processes (``--redis``). With
    ``base_path`` such as ``/docs/``, all of it is under that path (a site built with
    ``--base-url /docs/``), ``/`` redirects there, and anything else is 404.
    """
    prefix = base_path.rstrip("/")
    app = web.Application()
    static = StaticFiles(site, prefix=prefix)
    is_allowed = None if open_tracker else ManifestHashes(site / MANIFEST)
    tracker = TrackerService(is_allowed=is_allowed, cluster=cluster)
    app[_STATIC] = static
    app[_TRACKER] = tracker
    app.router.add_get(TRACKER_PATH, tracker.handle, allow_head=False)
    stats = StatsService(
        StatsDb(stats_db),
        static_bytes=lambda: static.bytes_sent,
        tracker_stats=tracker.stats,
        connections_from=tracker.connections_from,
    )
    stats.install(app)
    app.router.add_route("*", "/{tail:.*}", static.handle)

    async def start_tracker(app: web.Application) -> None:
        await tracker.start()

    async def close_sockets(app: web.Application) -> None:
        await tracker.close()

    app.on_startup.append(start_tracker)
    app.on_shutdown.append(close_sockets)
    if not prefix:
        return app
    outer = web.Application()

    async def to_base(request: web.Request) -> web.Response:
        raise web.HTTPFound(base_path)

    # Before the sub-application, which would take /docs and find nothing for it.
    outer.router.add_get("/", to_base)
    outer.router.add_get(prefix, to_base)
    outer.add_subapp(prefix, app)
    return outer
