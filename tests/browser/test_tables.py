"""Manifest tables (version 2): a site too large for its top level to list every file.

The service worker finds files through tables it fetches on first need and checks against
the SHA-256 their parent gives; it fetches each table once and only those it needs, and a
table that does not match its hash is never used: the request goes to the origin.
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from planktos.manifest import read_manifest
from tests.browser.browsers import Visitors
from tests.browser.origin import Origin
from tests.browser.probes import (
    arrive,
    expected_state,
    fetch_seen,
    page_state,
    sha256,
    until_page_complete,
)
from tests.browser.sites import AWKWARD, PAGE_A, PAGE_B, Built, planktos_build, site_files

FILES = site_files()
FILLERS = 600


def grow(root: Path) -> dict[str, bytes]:
    """Add enough small files that the top level lists tables, not files; rebuild."""
    added = {}
    for i in range(FILLERS):
        rel = f"many/d{i // 100}/f-{i:04}.txt"
        data = f"filler {i}\n".encode() * (1 + i % 5)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        added[rel] = data
    planktos_build(root)
    top = read_manifest(root / "planktos/manifest.json")
    assert "tables" in top["index"], "the site is still small enough to be listed inline"
    return added


def table_requests(origin: Origin) -> Counter[str]:
    return Counter(e.path for e in origin.settle() if "/planktos/i/" in e.path)


async def test_files_are_found_through_tables_fetched_once_each(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    added = grow(site_root)
    built = Built.load(site_root)
    visitor = await visitors.new("A")
    landing = await arrive(visitor, origin.url)
    for rel in [PAGE_A.css, "many/d3/f-0321.txt", "many/d5/f-0599.txt", AWKWARD[0]]:
        seen = await fetch_seen(landing, origin.url + quote(rel, safe="/"))
        assert seen.from_sw and seen.headers.get("x-planktos-source"), rel
        assert (seen.status, seen.sha256) == (200, sha256({**FILES, **added}[rel])), rel
    page = await visitor.context.new_page()
    response = await page.goto(origin.url + PAGE_B.url)
    assert response is not None and response.from_service_worker
    await until_page_complete(page, PAGE_B)
    assert await page_state(page, PAGE_B) == expected_state(PAGE_B)
    fetched = table_requests(origin)
    assert fetched and max(fetched.values()) == 1, fetched  # kept: never fetched twice
    total = len(list((site_root / "planktos/i").glob("*.json")))
    assert len(fetched) < total - 1, f"{len(fetched)} of {total} tables fetched"
    assert built.build_id


async def test_a_table_that_does_not_match_its_hash_is_not_used(
    visitors: Visitors, origin: Origin, site_root: Path
) -> None:
    added = grow(site_root)
    # Damage every table, as served whatever the coding (its gzip copy is what a browser
    # gets): the worker must refuse them all and still give the right bytes.
    for table in (site_root / "planktos/i").glob("*.json"):
        damaged = table.read_bytes().replace(b'"length":', b'"length":1', 1)
        table.write_bytes(damaged)
        if table.with_suffix(".json.gz").exists():
            table.with_suffix(".json.gz").write_bytes(gzip.compress(damaged))
    visitor = await visitors.new("A")
    landing = await arrive(visitor, origin.url)
    rel = "many/d2/f-0222.txt"
    seen = await fetch_seen(landing, origin.url + rel)
    assert (seen.status, seen.sha256) == (200, sha256(added[rel]))
    assert "x-planktos-source" not in seen.headers  # the origin's own answer
    page = await visitor.context.new_page()
    await page.goto(origin.url + PAGE_A.url)
    await until_page_complete(page, PAGE_A)
    assert await page_state(page, PAGE_A) == expected_state(PAGE_A)
