"""Peer-to-peer across browsers on the example site: how much visitor B's worker still takes
from the origin once visitor A (in the same or the other browser) holds everything.

For each pair (A's browser, B's browser) and each run: a fresh copy of examples/site, built
with ``--inject`` and served by ``planktos serve``; A browses home, gallery, video in one tab
(images decoded, video metadata read), reads the whole video through its worker (a player reads
only what it needs, and B's may read further) and stays; once the tracker counts A in every
swarm, B does the same, reading each page ``--dwell`` seconds before the next (0: at once;
while it reads, its agent prefetches the linked pages' files from peers). Reported per run: the
origin bytes of the gallery's images and of the video that B's worker fetched after B's home
page (its fallback to the origin, or a prefetch from the home page; the floor is 0), and what
B's agents counted from peers. Run inside ``scripts/in-netns`` (loopback only):
``scripts/in-netns .venv/bin/python bench/browser_p2p.py --runs 3``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.browsers import ErrorLog, Visitors, launch  # noqa: E402
from tests.browser.firefox import SW_PRELUDE, Firefox  # noqa: E402
from tests.browser.origin import Kind, Origin, attribute, file_bytes  # noqa: E402
from tests.browser.probes import agent_counters, arrive  # noqa: E402
from tests.browser.sites import (  # noqa: E402
    EXAMPLE_GALLERY,
    EXAMPLE_VIDEO,
    Built,
    add_worker_prelude,
    planktos_build,
)

IMAGES = EXAMPLE_GALLERY
VIDEO = EXAMPLE_VIDEO
IMAGES_DONE = (
    "() => document.readyState === 'complete' && [...document.images].every((i) => i.complete)"
)
VIDEO_READY = "() => { const v = document.querySelector('video'); return v && v.readyState >= 1; }"


async def until_swarmed(origin: Origin, built: Built, timeout: float = 30) -> None:
    swarms = {built.shard(k)["infohash"] for k in (*IMAGES, VIDEO)}
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        sizes = origin.stats()["tracker"]["peers_per_swarm"]  # type: ignore[index]
        if all(sizes.get(ih, 0) >= 1 for ih in swarms):
            return
        assert asyncio.get_running_loop().time() < deadline, sizes
        await asyncio.sleep(0.1)


async def one_run(
    make: dict[str, Any], a: str, b: str, tmp: Path, dwell: float = 0
) -> dict[str, Any]:
    root = Path(shutil.copytree(ROOT / "examples/site", tmp / "site"))
    planktos_build(root, "--inject", "--quiet")
    add_worker_prelude(root, SW_PRELUDE)
    built = Built.load(root)
    origin = Origin(root, tmp / "access.log")
    origin.start()
    errors = ErrorLog()
    va, vb = Visitors(make[a], errors), Visitors(make[b], errors)
    try:
        tab_a, _ = await browse_rest(await arrive(await va.new("A"), origin.url), origin.url)
        # A's player reads only what it needs, and B's may read further (Firefox's does): a
        # piece no peer holds comes from the origin, rightly. A reads the whole video through
        # its worker, so that every byte B takes from the origin is one a peer could have sent.
        await tab_a.evaluate(
            "(url) => fetch(url).then((r) => r.arrayBuffer()).then((b) => b.byteLength)",
            origin.url + VIDEO,
        )
        await until_swarmed(origin, built)
        origin.settle()
        before = len(origin.settle())
        tab = await arrive(await vb.new("B"), origin.url)
        home = len(origin.settle())
        _, counted = await browse_rest(tab, origin.url, dwell)
        # What B's home page itself loaded is not counted (a first page is not controlled);
        # a prefetch from it would be (it must take nothing from the origin).
        hits = attribute(origin.settle()[before:home], built)
        prefetch_sent = file_bytes(hits, (Kind.CONTENT,))
        hits = attribute(origin.settle()[home:], built)
        sent = file_bytes(hits, (Kind.CONTENT,)) + prefetch_sent
        return {
            "A": a,
            "B": b,
            "dwell_s": dwell,
            "images_from_origin": sum(sent[k] for k in IMAGES),
            "video_from_origin": sent[VIDEO],
            "B_agent_counters": dict(counted),
            "errors": errors.found,
        }
    finally:
        await va.close()
        await vb.close()
        origin.stop()


async def browse_rest(tab: Any, base: str, dwell: float = 0) -> tuple[Any, Counter[str]]:
    """Gallery then video in ``tab``, ``dwell`` seconds on each page before the next (the
    current one first); the agents' counters summed."""
    counted: Counter[str] = Counter()
    for path, ready in (("gallery.html", IMAGES_DONE), ("video.html", VIDEO_READY)):
        await asyncio.sleep(dwell)
        counted.update(
            {
                k: v
                for k, v in (await agent_counters(tab, base)).items()
                if isinstance(v, int) and not isinstance(v, bool)
            }
        )
        await tab.goto(base + path)
        await tab.wait_for_function(ready, timeout=30_000)
    counted.update(
        {
            k: v
            for k, v in (await agent_counters(tab, base)).items()
            if isinstance(v, int) and not isinstance(v, bool)
        }
    )
    return tab, counted


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--dwell", type=float, default=0.0, help="seconds B reads each page before the next"
    )
    parser.add_argument(
        "--pairs", default="firefox:firefox,chromium:firefox,firefox:chromium,chromium:chromium"
    )
    args = parser.parse_args()
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
    async with async_playwright() as pw:
        make: dict[str, Any] = {"chromium": await launch(pw), "firefox": await Firefox.launch()}
        try:
            for a, b in pairs:
                for run in range(args.runs):
                    with tempfile.TemporaryDirectory() as tmp:
                        result = await one_run(make, a, b, Path(tmp), args.dwell)
                    print(json.dumps({"run": run + 1, **result}), flush=True)
        finally:
            for browser in make.values():
                await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
