"""A volunteer's ``planktos mirror`` keeps a site up: with the origin's files gone (only the
runtime, the manifest and the torrents left), a fresh Chromium visitor gets every page file,
gallery image and the video from the mirror (libtorrent over WebRTC), byte for byte, at the
site's default settings.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from planktos.demo import example_site
from tests.browser.browsers import Visitors
from tests.browser.origin import Origin
from tests.browser.probes import sw_stats, until, until_controlled
from tests.browser.sites import EXAMPLE_GALLERY, EXAMPLE_VIDEO, planktos_build
from tests.mirrors import MirrorProcess

pytestmark = pytest.mark.p2p

GALLERY = EXAMPLE_GALLERY
VIDEO = EXAMPLE_VIDEO
# A page outside the manifest that only installs Planktos: the site's own pages are gone.
BOOT = (
    '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">'
    '<script src="/planktos/install.js" async></script>'
)

FETCH_JS = """async (url) => {
  const r = await fetch(url);
  const digest = await crypto.subtle.digest("SHA-256", await r.arrayBuffer());
  return [r.status, r.headers.get("x-planktos-source"),
          [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")];
}"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remove_site_files(root: Path) -> None:
    """Delete everything but planktos.sw.js and planktos/ (runtime, manifest, tables,
    torrents); the web seed trees (hard links to the site's files) go too."""
    for path in root.iterdir():
        if path.name.startswith("planktos.sw.js") or path.name == "planktos":
            continue
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.rmtree(root / "planktos/w")


@pytest.fixture
def example_root(tmp_path: Path) -> Path:
    root = Path(shutil.copytree(example_site(), tmp_path / "site"))
    planktos_build(root, "--inject", "--quiet")
    return root


@pytest.fixture
def example_origin(example_root: Path, tmp_path: Path) -> Iterator[Origin]:
    server = Origin(example_root, tmp_path / "access.log")
    server.start()
    yield server
    server.stop()
    print(server.output())


async def test_mirror_serves_a_visitor_when_the_origin_files_are_gone(
    visitors: Visitors, example_origin: Origin, example_root: Path, tmp_path: Path
) -> None:
    originals = Path(shutil.copytree(example_root, tmp_path / "originals"))
    mirror = MirrorProcess(example_origin.url, tmp_path / "mirror")
    try:
        mirror.until_seeding()
        remove_site_files(example_root)
        (example_root / "boot.html").write_text(BOOT, encoding="utf-8")
        logged = len(example_origin.settle())

        visitor = await visitors.new("V")
        page = await visitor.open(example_origin.url + "boot.html")
        await until_controlled(page)  # no agent yet: it starts when a read wants peers
        await page.goto(example_origin.url + "gallery.html")
        sizes = await until(
            page,
            """() => document.readyState === "complete"
                     && [...document.images].every((i) => i.complete)
                     && [...document.images].map((i) => [i.getAttribute("src"), i.naturalWidth])""",
            timeout=30,
        )
        assert len(sizes) == len(GALLERY) and all(width > 0 for _, width in sizes), sizes
        # The video page: the player reads the video by ranges, through the worker, from peers.
        await page.goto(example_origin.url + "video.html")
        await page.wait_for_function(
            "() => document.querySelector('video').readyState >= 1", timeout=30_000
        )
        got = {}
        for key in (*GALLERY, VIDEO, "gallery.html", "video.html", "css/style.css"):
            status, source, digest = await page.evaluate(FETCH_JS, example_origin.url + key)
            assert (status, digest) == (200, sha256(originals / key)), key
            got[key] = source
        assert set(got.values()) <= {"peer", "store"}, got

        worker = await sw_stats(page)
        hits = example_origin.settle()[logged:]
        site_bytes = sum(
            e.body_bytes
            for e in hits
            if e.status in (200, 206) and not e.path.startswith(("/planktos", "/boot.html"))
        )
        # The mirror is the only peer: all of it came from there (some twice, the worker's peer
        # count includes what an agent served again from its own store).
        needed = sum((originals / k).stat().st_size for k in got)
        served = mirror.until(lambda s: s["totals"]["uploaded"] >= needed)
        print(
            f"origin sent {site_bytes} B of site files; the worker took "
            f"{worker['bytes']['peer']} B from peers, {worker['bytes']['origin']} B from the "
            f"origin; the mirror uploaded {served['totals']['uploaded']} B"
        )
        assert site_bytes == 0 and worker["bytes"]["origin"] == 0, worker
        # A fresh profile's store holds only what peers sent: a small file whose pieces came
        # with its neighbour's (css/style.css with gallery.html, in Firefox) is cut from the
        # stored pieces and counts as a store read.
        assert worker["bytes"]["peer"] + worker["bytes"]["store"] >= needed, worker
    finally:
        assert mirror.stop() == 0, mirror.output()
