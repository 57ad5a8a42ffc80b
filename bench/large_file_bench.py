"""A large file through the service worker on a quiet origin (issue 12, item 22).

Files of ``--mb`` MB (random bytes) on a site built with ``planktos build``,
served by ``planktos serve`` with an access log; one Chromium (Debian's, flags of FACTS.md).
Each round, in alternating order:

- **plain**: a context without service workers fetches the file whole from a page
  (``fetch`` then reading the body to its end), and ``curl`` downloads it once;
- **planktos**: a fresh context (empty store) opens the home page, waits until the worker
  controls it, then fetches the file whole the same way; then a 64 KiB range in the middle of
  a file it has not stored (a second file of the same size).

Per fetch: seconds from ``fetch()`` to the body's last byte, and the body bytes the origin
sent for that file (the access log, every request for its URL). Targets: whole file through
the worker ≤ 1.2 x the plain fetch; origin bytes ≤ 1.05 x the file; a range ≤ the pieces it
covers. Run it in a network namespace holding only loopback:
``scripts/in-netns .venv/bin/python bench/large_file_bench.py``. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from playwright.async_api import Page, async_playwright  # noqa: E402
from tests.browser.browsers import PERMISSIONS, launch  # noqa: E402
from tests.browser.probes import until_controlled  # noqa: E402
from tests.browser.sites import Built  # noqa: E402
from tests.servers import planktos_serve  # noqa: E402

from planktos.server.accesslog import parse_clf_line  # noqa: E402

RANGE = 64 * 1024
HTML = (
    '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">'
    '<title>big</title><script src="planktos/install.js" async></script><h1>big</h1>\n'
)

FETCH_JS = """async ([url, range]) => {
  const headers = range ? { Range: `bytes=${range[0]}-${range[1]}` } : {};
  const t0 = performance.now();
  const r = await fetch(url, { headers, cache: "no-store" });
  const reader = r.body.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
  }
  return { status: r.status, bytes: n, seconds: (performance.now() - t0) / 1000,
           source: r.headers.get("x-planktos-source") };
}"""


def make_site(root: Path, mb: int) -> None:
    """Two files of ``mb`` MB and a home page that loads install.js; built."""
    (root / "big").mkdir(parents=True)
    for name in ("a.bin", "b.bin"):
        with (root / "big" / name).open("wb") as f:
            for _ in range(mb):
                f.write(os.urandom(1 << 20))
    (root / "index.html").write_text(HTML, encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "planktos", "build", "--root", str(root), "--quiet"],
        check=True,
    )


def origin_bytes(log: Path, start: int, path: str) -> tuple[int, int]:
    """(body bytes, requests) the access log shows for ``path`` after line ``start``."""
    lines = log.read_text(encoding="utf-8").splitlines()[start:]
    entries = [parse_clf_line(line) for line in lines if line]
    mine = [e for e in entries if e.path.split("?")[0] == path]
    return sum(e.body_bytes for e in mine), len(mine)


def log_lines(log: Path) -> int:
    return len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0


async def settle(log: Path) -> None:
    """Wait until the access log stops growing (its lines follow the responses)."""
    before = -1
    while (now := log_lines(log)) != before:
        before = now
        await asyncio.sleep(0.3)


async def measured(page: Page, url: str, log: Path, path: str, rng: Any = None) -> dict[str, Any]:
    start = log_lines(log)
    got = await page.evaluate(FETCH_JS, [url, rng])
    await settle(log)
    sent, requests = origin_bytes(log, start, path)
    return {**got, "origin_bytes": sent, "origin_requests": requests}


def curl_seconds(url: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["curl", "-sS", "-o", "/dev/null", url], check=True)
    return time.perf_counter() - t0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="planktos-large-"))
    try:
        root = tmp / "site"
        make_site(root, args.mb)
        pl = Built.load(root).shard("big/b.bin")["piece_length"]
        size = args.mb << 20
        log = tmp / "access.log"
        rounds: list[dict[str, Any]] = []
        with planktos_serve(root, "--access-log", str(log)) as served:
            base = served.url
            async with async_playwright() as pw:
                browser = await launch(pw)
                for i in range(args.rounds):
                    result: dict[str, Any] = {}
                    for mode in ("plain", "planktos") if i % 2 == 0 else ("planktos", "plain"):
                        ctx = await browser.new_context(
                            permissions=PERMISSIONS,
                            service_workers="allow" if mode == "planktos" else "block",
                        )
                        page = await ctx.new_page()
                        await page.goto(base)
                        if mode == "planktos":
                            await until_controlled(page)
                        whole = await measured(page, base + "big/a.bin", log, "/big/a.bin")
                        assert whole["bytes"] == size, whole
                        result[mode] = whole
                        if mode == "planktos":
                            mid = size // 2 + 12345
                            part = await measured(
                                page, base + "big/b.bin", log, "/big/b.bin", [mid, mid + RANGE - 1]
                            )
                            assert part["bytes"] == RANGE, part
                            first, last = mid // pl, (mid + RANGE - 1) // pl
                            part["covering_pieces_bytes"] = (last - first + 1) * pl
                            result["range"] = part
                        await ctx.close()
                    result["curl_seconds"] = curl_seconds(base + "big/a.bin")
                    rounds.append(result)
                    print(json.dumps(result), file=sys.stderr)
                await browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(key: str, field: str) -> float:
        return statistics.median(r[key][field] for r in rounds)

    return {
        "file_bytes": size,
        "piece_length": pl,
        "rounds": rounds,
        "median": {
            "plain_seconds": med("plain", "seconds"),
            "planktos_seconds": med("planktos", "seconds"),
            "time_ratio": statistics.median(
                r["planktos"]["seconds"] / r["plain"]["seconds"] for r in rounds
            ),
            "curl_seconds": statistics.median(r["curl_seconds"] for r in rounds),
            "origin_bytes_ratio": med("planktos", "origin_bytes") / size,
            "range_origin_bytes": med("range", "origin_bytes"),
            "range_covering_pieces_bytes": med("range", "covering_pieces_bytes"),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the file (MiB)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
