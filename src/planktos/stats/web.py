"""aiohttp adapter of the statistics: ``POST``/``GET /planktos/stats`` and the dashboard.

Reports are checked (:mod:`.report`), rate limited per visitor id and per address (in
memory, :mod:`.ratelimit`), bounded in bytes per address and minute by that address's
connections to the tracker (:class:`~.ratelimit.AddressBudget`), and added to the current
minute's bucket in memory. Every
``flush_s`` the server's own counts are sampled into it (origin bytes sent, the tracker's
swarms and peers) and the buckets are written to SQLite on one worker thread, so the event
loop never waits for the disk; the last write happens on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from typing import Any, TypeVar

from aiohttp import web

from planktos.stats.buckets import Bucket, minute_of, total
from planktos.stats.db import KEEP_MINUTES_S, StatsDb
from planktos.stats.ratelimit import AddressBudget, AddressKeys, RateLimiter
from planktos.stats.report import MAX_BODY_BYTES, ReportError, check_content_type, parse_report
from planktos.stats.summary import DEFAULT_RANGE, RANGES, summarize

STATS_PATH = "/planktos/stats"
DASHBOARD_PATH = "/planktos/dashboard"
# The dashboard is one inline page: it needs nothing but itself and the stats JSON.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
)
T = TypeVar("T")
log = logging.getLogger(__name__)


def _refuse(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=reason + "\n", headers=headers)


class StatsService:
    """Collects reports and the server's own counts; answers the stats JSON and the dashboard."""

    def __init__(
        self,
        db: StatsDb,
        *,
        static_bytes: Callable[[], int],
        tracker_stats: Callable[[], dict[str, Any]],
        flush_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        per_client: RateLimiter | None = None,
        per_address: RateLimiter | None = None,
        budget: AddressBudget | None = None,
        connections_from: Callable[[str], int] = lambda address: 0,
        body_timeout_s: float = 10.0,
    ) -> None:
        self.db = db
        self.flush_s = flush_s
        self._static_bytes = static_bytes
        self._tracker_stats = tracker_stats
        self._clock = clock
        # A visitor reports once a minute plus once per page it leaves: 20 at once, then one
        # every 3 s. An address may hide many visitors (NAT, a reverse proxy): a wide backstop.
        self.per_client = RateLimiter(1 / 3, 20) if per_client is None else per_client
        self.per_address = RateLimiter(100, 3000) if per_address is None else per_address
        self._address_key = AddressKeys()
        # What one address may claim, bounded by its tracker connections (issue 12).
        self.budget = AddressBudget(clock=clock) if budget is None else budget
        self._connections_from = connections_from
        self.body_timeout_s = body_timeout_s  # a body trickled in slower is refused (408)
        self._pending: dict[int, Bucket] = {}
        self._bytes_seen = static_bytes()
        self._rolled_up = 0.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planktos-stats")
        self._task: asyncio.Task[None] | None = None
        self._dashboard = (files("planktos.stats") / "dashboard.html").read_bytes()

    def install(self, app: web.Application) -> None:
        """Mount the routes and the flush task on ``app``."""
        app.router.add_post(STATS_PATH, self.post)
        app.router.add_get(STATS_PATH, self.get)
        app.router.add_get(DASHBOARD_PATH, self.dashboard)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _bucket(self) -> Bucket:
        return self._bucket_at(minute_of(self._clock()))

    def _bucket_at(self, start: int) -> Bucket:
        bucket = self._pending.get(start)
        if bucket is None:
            bucket = self._pending[start] = Bucket(start)
        return bucket

    async def post(self, request: web.Request) -> web.Response:
        """Take one report: 204, or 4xx with a one-line reason."""
        address = request.remote or ""
        key = self._address_key(address)
        wait = self.per_address.wait_s(key)
        if wait:
            return _refuse(429, "too many reports from this address; retry later", _retry(wait))
        try:
            check_content_type(request.content_type)
            if (request.content_length or 0) > MAX_BODY_BYTES:
                raise ReportError("body", f"larger than {MAX_BODY_BYTES} bytes", 413)
            async with asyncio.timeout(self.body_timeout_s):
                body = await _read_capped(request, MAX_BODY_BYTES + 1)
            report = parse_report(body)
        except ReportError as err:
            return _refuse(err.status, str(err))
        except TimeoutError:
            return _refuse(408, f"body: not received within {self.body_timeout_s:g} s")
        wait = self.per_client.wait_s(report.client)
        if wait:
            return _refuse(429, "id: too many reports from this visitor; retry later", _retry(wait))
        store, peers, origin, uploaded = report.store, report.peers, report.origin, report.uploaded
        claimed = store + peers + origin + uploaded
        granted = self.budget.allow(key, self._connections_from(address), claimed)
        if granted < claimed:  # scale every count down alike, rounding down
            store, peers, origin, uploaded = (
                count * granted // claimed for count in (store, peers, origin, uploaded)
            )
        b = self._bucket()
        b.reports += 1
        b.store += store
        b.peers += peers
        b.origin += origin
        b.uploaded += uploaded
        b.rejected += report.rejected
        b.connected_sum += report.peers_connected
        return web.Response(status=204)

    def sample(self) -> None:
        """Fold in what the server knows itself: origin bytes sent, swarms and peers online."""
        sent = self._static_bytes()
        tracker = self._tracker_stats()
        b = self._bucket()
        b.server_bytes += max(0, sent - self._bytes_seen)
        self._bytes_seen = sent
        b.swarms = max(b.swarms, int(tracker.get("swarms", 0)))
        b.peers_online = max(b.peers_online, int(tracker.get("peers", 0)))

    async def flush(self) -> None:
        """Write the pending buckets (and, once an hour, roll old minutes up)."""
        self.sample()
        pending, self._pending = list(self._pending.values()), {}
        if pending:
            try:
                await self._run(self.db.add, pending)
            except sqlite3.Error:
                log.exception(
                    "cannot write the stats database %s; keeping counts in memory", self.db.path
                )
                for b in pending:
                    self._bucket_at(b.start).add(b)
                return
        now = self._clock()
        if now - self._rolled_up >= 3600:
            self._rolled_up = now
            await self._run(self.db.roll_up, int(now) - KEEP_MINUTES_S)

    async def aggregates(self, range_name: str = DEFAULT_RANGE) -> dict[str, Any]:
        """The summary of ``range_name``: stored buckets plus those still in memory."""
        self.sample()
        now = int(self._clock())
        span, step = RANGES[range_name]
        # Queued behind any write already handed to the worker, so nothing is counted twice
        # or missed: what is still pending now has not been handed over.
        pending = [Bucket(*b.values()) for b in self._pending.values()]
        stored, (everything, first) = await asyncio.gather(
            self._run(self.db.buckets, (now - span) // step * step),
            self._run(self.db.totals),
        )
        everything.add(total(pending))
        if pending:
            first = min(first or now, *(b.start for b in pending))
        return summarize([*stored, *pending], everything, first, now, range_name)

    async def get(self, request: web.Request) -> web.Response:
        """The tracker's and the static server's counters, and the aggregates."""
        range_name = request.query.get("range", DEFAULT_RANGE)
        if range_name not in RANGES:
            return _refuse(400, f"range: {range_name!r} is not one of {', '.join(RANGES)}")
        body = {
            "tracker": self._tracker_stats(),
            "static": {"bytes_sent": self._static_bytes()},
            "reports": {"clipped_bytes": self.budget.clipped_bytes},
            "aggregates": await self.aggregates(range_name),
        }
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def dashboard(self, request: web.Request) -> web.Response:
        """The self-contained dashboard page."""
        headers = {
            "Cache-Control": "no-cache",
            "Content-Security-Policy": DASHBOARD_CSP,
            "X-Content-Type-Options": "nosniff",
        }
        return web.Response(
            body=self._dashboard, content_type="text/html", charset="utf-8", headers=headers
        )

    async def _start(self, app: web.Application) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            await self.flush()

    async def _stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        finally:
            await self._run(self.db.close)
            self._executor.shutdown()


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """The body, or its first ``limit`` bytes (a chunked body has no length to check first)."""
    body = b""
    while len(body) < limit:
        chunk = await request.content.read(limit - len(body))
        if not chunk:
            break
        body += chunk
    return body


def _retry(wait_s: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(wait_s + 0.5)))}
