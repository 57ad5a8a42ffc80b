"""What taking reports costs ``planktos serve``: reports per second through the real handler
(parse, check, rate limit, add to the minute's bucket) and the time of a database flush.

In process, one aiohttp server and one client on loopback over keep-alive connections; the
per-address limit is lifted (every request comes from 127.0.0.1). Run:
``.venv/bin/python bench/stats_ingest.py``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planktos.stats.buckets import Bucket
from planktos.stats.db import StatsDb
from planktos.stats.ratelimit import RateLimiter
from planktos.stats.web import StatsService

REPORTS = 5000
CONCURRENCY = 20


def body(i: int) -> str:
    return json.dumps(
        {
            "v": 1,
            "id": f"visitor-{i:014}",
            "store": 1000,
            "peers": 200_000,
            "origin": 50_000,
            "uploaded": 100_000,
            "rejected": 0,
            "peers_connected": 3,
        }
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        service = StatsService(
            StatsDb(Path(tmp) / "stats.sqlite3"),
            static_bytes=lambda: 0,
            tracker_stats=dict,
            flush_s=3600,
            per_address=RateLimiter(1e9, 1e9),
        )
        app = web.Application()
        service.install(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/planktos/stats"
        queue = list(range(REPORTS))
        async with aiohttp.ClientSession() as session:

            async def worker() -> None:
                while queue:
                    i = queue.pop()
                    headers = {"Content-Type": "text/plain;charset=UTF-8"}
                    async with session.post(url, data=body(i), headers=headers) as resp:
                        assert resp.status == 204, await resp.text()

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            elapsed = time.perf_counter() - start
        flushes = []
        for minute in range(20):
            service._pending[minute * 60] = Bucket(minute * 60, reports=1, peers=5)
            t = time.perf_counter()
            await service.flush()
            flushes.append(time.perf_counter() - t)
        await runner.cleanup()
    print(
        f"{REPORTS} reports in {elapsed:.2f} s: {REPORTS / elapsed:,.0f} reports/s "
        f"(client and server on one event loop); flush of the pending buckets: median "
        f"{statistics.median(flushes) * 1000:.2f} ms on the worker thread"
    )


if __name__ == "__main__":
    asyncio.run(main())
