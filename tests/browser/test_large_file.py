"""A large file through the worker costs the origin the file once, and a range only the pieces
it covers (issue 12, item 22: a 200 MB file once cost 400 MB, a 64 KiB range 1.3 MB). Bytes
counted from the origin's access log; the time is bench/large_file_bench.py's to measure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.browsers import Visitors
from tests.browser.origin import Origin, attribute, describe, file_bytes
from tests.browser.probes import arrive, fetch_seen, sha256
from tests.browser.sites import LONG_VIDEO, Built, add_long_video, planktos_build, wav
from tests.browser.sites import LONG_VIDEO_SIZE as SIZE


@pytest.fixture
def built(site_root: Path) -> Built:
    """The test site with a 12 MB file (its own shard, chunked verification)."""
    add_long_video(site_root)
    planktos_build(site_root, "--quiet")
    return Built.load(site_root)


async def test_whole_large_file_costs_the_origin_the_file_once_and_a_range_its_pieces(
    visitors: Visitors, origin: Origin, built: Built
) -> None:
    data = wav(SIZE, LONG_VIDEO)
    pl = built.shard(LONG_VIDEO)["piece_length"]
    page = await arrive(await visitors.new("A"), origin.url)
    url = origin.url + LONG_VIDEO

    # A 64 KiB range across a piece boundary, nothing stored yet: its two pieces at most.
    start = 40 * pl + pl // 2
    end = start + 64 * 1024 - 1
    before = len(origin.settle())
    part = await fetch_seen(page, url, headers={"Range": f"bytes={start}-{end}"})
    assert (part.status, part.sha256) == (206, sha256(data[start : end + 1]))
    hits = attribute(origin.settle()[before:], built)
    covering = (end // pl - start // pl + 1) * pl
    assert 0 < file_bytes(hits)[LONG_VIDEO] <= covering, describe(hits)

    # The whole file: once, give or take 5 % (the two pieces above may be stored already).
    before = len(origin.settle())
    whole = await fetch_seen(page, url)
    assert whole.from_sw and (whole.status, whole.sha256) == (200, sha256(data))
    hits = attribute(origin.settle()[before:], built)
    assert file_bytes(hits)[LONG_VIDEO] <= 1.05 * SIZE, describe(hits)
