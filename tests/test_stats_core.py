"""The pure parts of the offload statistics: report checks, rate limits, buckets, the store."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from planktos.stats.buckets import HOUR, MINUTE, Bucket, minute_of, offload, peer_share, regroup
from planktos.stats.db import StatsDb, StatsDbError, check_outside, default_db_path
from planktos.stats.ratelimit import AddressBudget, AddressKeys, RateLimiter
from planktos.stats.report import (
    MAX_BODY_BYTES,
    MAX_PEERS_CONNECTED,
    MAX_REJECTED,
    MAX_REPORT_BYTES,
    Report,
    ReportError,
    check_content_type,
    parse_report,
)
from planktos.stats.summary import summarize

GOOD: dict[str, Any] = {
    "v": 1,
    "id": "AbCdEfGhIjKlMnOpQrStUv",
    "store": 10,
    "peers": 20,
    "origin": 30,
    "uploaded": 40,
    "rejected": 1,
    "peers_connected": 2,
}


def body(**changes: Any) -> bytes:
    data = {**GOOD, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def test_a_good_report_parses() -> None:
    assert parse_report(body()) == Report("AbCdEfGhIjKlMnOpQrStUv", 10, 20, 30, 40, 1, 2)
    edge = body(store=MAX_REPORT_BYTES, rejected=MAX_REJECTED, peers_connected=MAX_PEERS_CONNECTED)
    at_limits = parse_report(edge)
    assert (at_limits.store, at_limits.rejected) == (MAX_REPORT_BYTES, MAX_REJECTED)
    assert at_limits.peers_connected == MAX_PEERS_CONNECTED


@pytest.mark.parametrize(
    ("raw", "subject", "status"),
    [
        (b"x" * (MAX_BODY_BYTES + 1), "body", 413),
        (b"\xff\xfe", "body", 400),
        (b"{not json", "body", 400),
        (b"[1, 2]", "body", 400),
        (b"", "body", 400),
        (body(extra=1), "extra", 400),
        (body(store=...), "store", 400),
        (body(v=2), "v", 400),
        (body(v=True), "v", 400),
        (body(id="short"), "id", 400),
        (body(id="has spaces and is long enough"), "id", 400),
        (body(id=12345678901234567890), "id", 400),
        (body(store=-1), "store", 400),
        (body(peers=1.5), "peers", 400),
        (body(origin="10"), "origin", 400),
        (body(uploaded=True), "uploaded", 400),
        (body(uploaded=None), "uploaded", 400),
        (body(store=MAX_REPORT_BYTES + 1), "store", 400),
        (body(rejected=MAX_REJECTED + 1), "rejected", 400),
        (body(peers_connected=MAX_PEERS_CONNECTED + 1), "peers_connected", 400),
    ],
)
def test_each_bad_report_is_refused_naming_the_input(raw: bytes, subject: str, status: int) -> None:
    with pytest.raises(ReportError) as caught:
        parse_report(raw)
    assert caught.value.subject == subject and caught.value.status == status
    assert "\n" not in str(caught.value)


def test_content_types() -> None:
    check_content_type("text/plain")
    check_content_type("application/json")
    for bad in ("", "application/x-www-form-urlencoded", "multipart/form-data"):
        with pytest.raises(ReportError) as caught:
            check_content_type(bad)
        assert caught.value.status == 415


def test_rate_limiter_allows_a_burst_then_the_refill_rate() -> None:
    now = [0.0]
    limit = RateLimiter(per_second=0.5, burst=3, clock=lambda: now[0])
    assert [limit.wait_s("a") for _ in range(3)] == [0, 0, 0]
    assert limit.wait_s("a") == pytest.approx(2.0)
    assert limit.wait_s("b") == 0, "keys are independent"
    now[0] = 2.0
    assert limit.wait_s("a") == 0
    assert limit.wait_s("a") > 0


def test_rate_limiter_forgets_the_oldest_key_when_full() -> None:
    limit = RateLimiter(per_second=0.001, burst=1, max_keys=2, clock=lambda: 0.0)
    limit.wait_s("a")
    limit.wait_s("b")
    limit.wait_s("c")
    assert len(limit) == 2
    assert limit.wait_s("a") == 0, "a was forgotten: a fresh bucket"
    assert limit.wait_s("c") > 0


def test_address_keys_hide_the_address() -> None:
    keys = AddressKeys()
    key = keys("192.0.2.7")
    assert key == keys("192.0.2.7") and key != keys("192.0.2.8")
    assert "192" not in key and key != AddressKeys()("192.0.2.7")


def test_buckets_add_counts_and_keep_gauge_maxima() -> None:
    a = Bucket(0, reports=1, store=5, swarms=3, peers_online=1)
    a.add(Bucket(0, reports=2, store=1, swarms=2, peers_online=9))
    assert (a.reports, a.store, a.swarms, a.peers_online) == (3, 6, 3, 9)
    assert minute_of(125.9) == 120
    got = regroup([Bucket(0, store=1), Bucket(60, store=2), Bucket(300, store=4)], 300)
    assert [(b.start, b.width, b.store) for b in got] == [(0, 300, 3), (300, 300, 4)]
    assert offload(Bucket(0, store=1, peers=2, origin=1)) == 0.75
    assert peer_share(Bucket(0, store=1, peers=2, origin=1)) == 0.5
    assert offload(Bucket(0)) is None


def test_db_adds_into_rows_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    db = StatsDb(path)
    db.add([Bucket(60, reports=1, peers=10, swarms=2)])
    db.add([Bucket(60, reports=1, peers=5, swarms=1), Bucket(120, origin=7)])
    db.close()
    again = StatsDb(path)
    rows = again.buckets()
    assert [(b.start, b.reports, b.peers, b.swarms, b.origin) for b in rows] == [
        (60, 2, 15, 2, 0),
        (120, 0, 0, 0, 7),
    ]
    everything, first = again.totals()
    assert (everything.peers, everything.origin, first) == (15, 7, 60)
    assert again.buckets(since=100) == [rows[1]]
    again.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_roll_up_folds_old_minutes_into_hours(tmp_path: Path) -> None:
    db = StatsDb(tmp_path / "s.sqlite3")
    db.add([Bucket(HOUR + m * MINUTE, peers=1, peers_online=m) for m in range(60)])
    db.add([Bucket(2 * HOUR, peers=100)])
    db.add([Bucket(HOUR, width=HOUR, peers=1000)])  # an hour rolled up before
    assert db.roll_up(2 * HOUR + 30 * MINUTE) == 60
    rows = db.buckets()
    assert [(b.start, b.width, b.peers, b.peers_online) for b in rows] == [
        (HOUR, HOUR, 1060, 59),
        (2 * HOUR, MINUTE, 100, 0),
    ]
    assert db.roll_up(2 * HOUR + 30 * MINUTE) == 0, "nothing twice"


def test_db_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StatsDbError, match="no stats database here"):
        StatsDb(tmp_path / "missing.sqlite3", create=False)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database at all, not even a little" * 100)
    for kwargs in ({}, {"create": False, "readonly": True}):
        with pytest.raises(StatsDbError) as caught:
            StatsDb(junk, **kwargs)  # type: ignore[arg-type]
        assert "\n" not in str(caught.value) and str(junk) in str(caught.value)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
    with pytest.raises(StatsDbError, match="not a Planktos stats database"):
        StatsDb(other, create=False, readonly=True)
    newer = tmp_path / "newer.sqlite3"
    StatsDb(newer).close()
    sqlite3.connect(newer).execute("UPDATE meta SET value = '99'").connection.commit()
    with pytest.raises(StatsDbError, match="schema 99"):
        StatsDb(newer)


def test_default_db_path_and_its_place(tmp_path: Path) -> None:
    site = tmp_path / "www" / "site"
    site.mkdir(parents=True)
    name = default_db_path(site, None).name
    assert default_db_path(site, None) == tmp_path / "www" / name
    assert re.fullmatch(r"planktos-stats-site-[0-9a-f]{8}\.sqlite3", name), name
    log = tmp_path / "logs" / "access.log"
    assert default_db_path(site, log) == tmp_path / "logs" / name
    # Sibling sites, and sites of one name logging to one directory, never share one.
    assert default_db_path(tmp_path / "www" / "other", None).parent == tmp_path / "www"
    assert default_db_path(tmp_path / "www" / "other", None).name != name
    assert default_db_path(tmp_path / "elsewhere" / "site", log).name != name
    assert default_db_path(tmp_path / "www" / "a b/é", None).name.startswith("planktos-stats-_-")
    check_outside(tmp_path / "elsewhere.sqlite3", site)
    with pytest.raises(StatsDbError, match="inside the served site"):
        check_outside(site / "stats.sqlite3", site)


def test_summary_fills_the_series_and_computes_ratios() -> None:
    now = 10 * HOUR + 30
    window = [
        Bucket(now // MINUTE * MINUTE - 5 * MINUTE, reports=1, store=10, peers=30, origin=60),
        Bucket(now // MINUTE * MINUTE, reports=1, peers=100, swarms=3, peers_online=4),
        Bucket(now - 2 * HOUR, reports=1, origin=1000),  # outside 1h
    ]
    everything = Bucket(0, 0)
    for b in window:
        everything.add(b)
    s = summarize(window, everything, 0, now, "1h")
    assert s["step"] == MINUTE and len(s["series"]) == 60
    assert [p["t"] for p in s["series"]] == sorted(p["t"] for p in s["series"])
    assert s["series"][-1]["peers"] == 100 and s["series"][-1]["swarms"] == 3
    assert s["window"]["peers"] == 130 and s["window"]["origin"] == 60
    assert s["window"]["offload"] == pytest.approx(140 / 200)
    assert s["recent"]["offload"] == pytest.approx(140 / 200)
    assert s["totals"]["origin"] == 1060 and s["totals"]["reports"] == 3
    assert s["series"][0]["offload"] is None and s["series"][0]["connected_avg"] is None


def test_address_keys_take_an_ipv6_address_as_its_64() -> None:
    keys = AddressKeys()
    assert keys("2001:db8:1:2::1") == keys("2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert keys("2001:db8:1:2::1") != keys("2001:db8:1:3::1")
    assert keys("::ffff:192.0.2.7") == keys("192.0.2.7")
    assert keys("fe80::1%eth0") == keys("fe80::2")


def test_address_budget_grows_with_tracker_connections_and_turns_each_minute() -> None:
    now = [600.0]
    budget = AddressBudget(base_bytes=100, per_connection_bytes=1000, clock=lambda: now[0])
    assert budget.allow("a", 0, 60) == 60
    assert budget.allow("a", 0, 60) == 40  # 100 a minute without a tracker connection
    assert budget.allow("a", 0, 60) == 0
    assert budget.allow("b", 0, 60) == 60, "another address has its own"
    assert budget.allow("a", 2, 5000) == 2000  # 100 + 2 x 1000, 100 spent
    assert budget.clipped_bytes == 20 + 60 + 3000
    now[0] += 60
    assert budget.allow("a", 0, 60) == 60
