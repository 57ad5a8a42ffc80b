"""``planktos demo``: build the bundled example site in a temporary directory and serve it."""

from __future__ import annotations

import shutil
import tempfile
from importlib.resources import as_file, files
from pathlib import Path

from planktos.build import BuildOptions, build
from planktos.errors import InputError
from planktos.progress import summary
from planktos.server.accesslog import close_access_log, open_access_log, parse_clf_line
from planktos.server.app import create_app
from planktos.server.run import run_app


def example_site() -> Path:
    """The example site: packaged in the wheel, or in the source checkout."""
    packaged = files("planktos").joinpath("example_site")
    if packaged.is_dir():
        with as_file(packaged) as path:
            return Path(path)
    checkout = Path(__file__).resolve().parents[2] / "examples" / "site"
    if checkout.is_dir():
        return checkout
    raise InputError("example site", "not found in this installation; reinstall planktos")


def demo(*, host: str, port: int) -> None:
    """Copy, build and serve the example site; print what to try; clean up on Ctrl-C."""
    workdir = Path(tempfile.mkdtemp(prefix="planktos-demo-"))
    site = workdir / "site"
    shutil.copytree(example_site(), site)
    log_path = workdir / "access.log"
    logger = open_access_log(log_path)

    def started(url: str) -> None:
        opts = BuildOptions(root=site, base_url=url, inject=True)
        print(summary(build(opts), opts))
        torrents = sorted((site / "planktos" / "t").glob("*.torrent"))
        print(
            f"\nPlanktos demo: serving {site} at {url}\n"
            f"  - open {url} in a browser; planktos.sw.js registers as the service worker\n"
            "  - to watch visitors serve each other, open it in a second window that does not\n"
            "    share storage (a private window); open the video in the first, keep it open,\n"
            "    then in the second: once its agent is connected, DevTools shows the video's\n"
            "    later ranges with X-Planktos-Source: peer\n"
            f"  - the manifest: {url}planktos/manifest.json; tracker stats: {url}planktos/stats\n"
            f"  - the offload dashboard, filled as visitors report: {url}planktos/dashboard\n"
            f"  - any BitTorrent client can fetch the site from its web seed, e.g.\n"
            f"      aria2c --seed-time=0 {url}planktos/t/{torrents[0].name if torrents else ''}\n"
            f"  - origin traffic is logged to {log_path}\n"
            "Press Ctrl-C to stop."
        )

    try:
        app = create_app(site, stats_db=workdir / "planktos-stats.sqlite3")
        run_app(app, host, port, logger, started)
    finally:
        close_access_log(logger)
        sent = 0
        for line in log_path.read_text(encoding="utf-8").splitlines():
            sent += parse_clf_line(line).body_bytes
        print(f"planktos demo: the origin sent {sent:,} body bytes; removing {workdir}")
        shutil.rmtree(workdir, ignore_errors=True)
