"""The statistics over HTTP (``planktos serve``'s app and a real process) and ``planktos stats``."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from planktos.server.app import create_app
from planktos.stats.buckets import Bucket
from planktos.stats.db import StatsDb, default_db_name
from planktos.stats.ratelimit import RateLimiter
from planktos.stats.web import StatsService
from tests.servers import planktos_serve

ID = "AbCdEfGhIjKlMnOpQrStUv"


def report(client: str = ID, **counts: int) -> str:
    base = {"store": 0, "peers": 0, "origin": 0, "uploaded": 0, "rejected": 0}
    return json.dumps({"v": 1, "id": client, **base, "peers_connected": 0, **counts})


Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(site: Path, tmp_path: Path, aiohttp_client: Any) -> Client:
    app = create_app(site, stats_db=tmp_path / "stats.sqlite3")
    made: Client = await aiohttp_client(app)
    return made


async def post(client: Client, data: str | bytes, content_type: str = "text/plain") -> Any:
    return await client.post("/planktos/stats", data=data, headers={"Content-Type": content_type})


async def test_a_report_is_taken_and_aggregated(client: Client) -> None:
    resp = await post(client, report(store=1000, peers=3000, origin=1000, uploaded=5, rejected=2))
    assert resp.status == 204 and await resp.read() == b""
    resp = await post(client, report(peers=1000), "application/json")
    assert resp.status == 204
    stats = await (await client.get("/planktos/stats")).json()
    assert stats["static"] == {"bytes_sent": 0} and stats["tracker"]["swarms"] == 0
    agg = stats["aggregates"]
    assert agg["totals"]["reports"] == 2 and agg["totals"]["peers"] == 4000
    assert agg["window"]["rejected"] == 2 and agg["window"]["uploaded"] == 5
    assert agg["window"]["offload"] == pytest.approx(5000 / 6000)
    assert agg["recent"]["offload"] == pytest.approx(5000 / 6000)
    assert agg["range"] == "24h" and agg["series"][-1]["reports"] == 2


@pytest.mark.parametrize(
    ("data", "content_type", "status", "reason"),
    [
        (report(), "application/x-www-form-urlencoded", 415, "Content-Type"),
        ("x" * 5000, "text/plain", 413, "body: larger than 1024 bytes"),
        ("{oops", "text/plain", 400, "body: not JSON"),
        ('"a string"', "text/plain", 400, "body: not a JSON object"),
        (report(store=-5), "text/plain", 400, "store: -5 is outside"),
        (report(client="bad id!"), "text/plain", 400, "id: "),
        (json.dumps({"v": 1}), "application/json", 400, "id: missing"),
        (report().replace('"v": 1', '"v": 7'), "text/plain", 400, "v: 7 is not a known version"),
        (report().replace("}", ', "ip": "1.2.3.4"}'), "text/plain", 400, "ip: unknown field"),
    ],
)
async def test_bad_reports_get_a_status_and_one_line(
    client: Client, data: str, content_type: str, status: int, reason: str
) -> None:
    resp = await post(client, data, content_type)
    text = await resp.text()
    assert resp.status == status, text
    assert text.startswith(reason) and text.count("\n") == 1
    stats = await (await client.get("/planktos/stats")).json()
    assert stats["aggregates"]["totals"]["reports"] == 0, "nothing counted"


async def test_a_chunked_body_over_the_cap_is_refused(client: Client) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 200

    resp = await post(client, chunks())  # type: ignore[arg-type]
    assert resp.status == 413 and (await resp.text()) == "body: larger than 1024 bytes\n"


async def test_bad_range_and_the_dashboard(client: Client) -> None:
    resp = await client.get("/planktos/stats?range=1y")
    assert resp.status == 400 and (await resp.text()).startswith("range: '1y' is not one of")
    for name in ("1h", "6h", "24h", "7d", "30d"):
        data = await (await client.get(f"/planktos/stats?range={name}")).json()
        assert data["aggregates"]["range"] == name and data["aggregates"]["series"]
    resp = await client.get("/planktos/dashboard")
    assert resp.status == 200 and resp.content_type == "text/html"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    page = await resp.text()
    # Self-contained: nothing loaded from anywhere (the SVG namespace is a name, not a fetch).
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page)
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")


async def test_one_visitor_is_rate_limited_not_the_others(client: Client) -> None:
    statuses = [(await post(client, report(peers=1))).status for _ in range(20)]
    assert statuses == [204] * 20
    refused = await post(client, report(peers=1))
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    assert (await refused.text()).startswith("id: too many reports")
    assert (await post(client, report("ZyXwVuTsRqPoNmLkJiHgFe", peers=1))).status == 204
    stats = await (await client.get("/planktos/stats")).json()
    assert stats["aggregates"]["totals"]["reports"] == 21


async def test_one_address_is_rate_limited(tmp_path: Path, aiohttp_client: Any) -> None:
    app = web.Application()
    service = StatsService(
        StatsDb(":memory:"),
        static_bytes=lambda: 0,
        tracker_stats=dict,
        per_address=RateLimiter(per_second=0.01, burst=3),
    )
    service.install(app)
    client: Client = await aiohttp_client(app)
    ids = [f"visitor-number-{i:04}" for i in range(4)]
    statuses = [(await post(client, report(i, peers=1))).status for i in ids]
    assert statuses == [204, 204, 204, 429]


async def test_the_server_folds_in_its_own_counts(
    site: Path, tmp_path: Path, aiohttp_client: Any
) -> None:
    db_path = tmp_path / "stats.sqlite3"
    client: Client = await aiohttp_client(create_app(site, stats_db=db_path))
    body = await (await client.get("/css/style.css")).read()
    await post(client, report(peers=10))
    agg = (await (await client.get("/planktos/stats")).json())["aggregates"]
    assert agg["window"]["server_bytes"] == len(body)
    await client.close()  # shutdown writes what is pending
    db = StatsDb(db_path, create=False, readonly=True)
    everything, _ = db.totals()
    assert (everything.server_bytes, everything.peers, everything.reports) == (len(body), 10, 1)
    db.close()
    raw = db_path.read_bytes()
    assert b"127.0.0.1" not in raw and ID.encode() not in raw, "no address, no visitor id"
    tables = sqlite3.connect(db_path).execute("SELECT name FROM sqlite_master").fetchall()
    assert {t[0] for t in tables} >= {"meta", "buckets"}


def http(url: str, data: str | None = None) -> tuple[int, bytes]:
    req = Request(url, data=data.encode() if data else None, headers={"Content-Type": "text/plain"})
    try:
        with urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except HTTPError as err:
        return err.code, err.read()


def planktos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planktos", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_aggregates_survive_a_restart_and_planktos_stats_shows_them(
    site: Path, tmp_path: Path
) -> None:
    db = tmp_path / "data" / "stats.sqlite3"
    db.parent.mkdir()
    with planktos_serve(site, "--stats-db", str(db)) as served:
        assert (
            http(served.url + "planktos/stats", report(peers=3_000_000, origin=1_000_000))[0] == 204
        )
        assert http(served.url + "css/style.css")[0] == 200
    with planktos_serve(site, "--stats-db", str(db)) as served:
        assert http(served.url + "planktos/stats", report(store=1_000_000))[0] == 204
        status, body = http(served.url + "planktos/stats")
        totals = json.loads(body)["aggregates"]["totals"]
        assert status == 200 and totals["reports"] == 2
        assert (totals["peers"], totals["store"], totals["origin"]) == (3e6, 1e6, 1e6)
        assert totals["server_bytes"] == (site / "css/style.css").stat().st_size
        # planktos stats reads the database while the server writes it.
        live = planktos("stats", "--stats-db", str(db), "--json")
        assert live.returncode == 0, live.stderr
    out = planktos("stats", "--stats-db", str(db), "--json")
    assert out.returncode == 0 and out.stderr == ""
    data = json.loads(out.stdout)
    assert data["periods"]["all"]["reports"] == 2
    assert data["periods"]["last hour"]["offload"] == pytest.approx(0.8)
    assert data["periods"]["last hour"]["peers"] == 3_000_000
    table = planktos("stats", "--stats-db", str(db))
    assert table.returncode == 0
    assert "80%" in table.stdout and "3.0 MB" in table.stdout and "last hour" in table.stdout


def test_serve_prints_the_dashboard_and_defaults_the_db_beside_the_access_log(
    site: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with planktos_serve(site, "--access-log", str(logs / "access.log")) as served:
        assert http(served.url + "planktos/stats", report(peers=5))[0] == 204
    rest = served.proc.stdout.read() if served.proc.stdout else ""
    assert f"{served.url}planktos/dashboard" in rest
    name = default_db_name(site.resolve())
    assert re.fullmatch(r"planktos-stats-site-[0-9a-f]{8}\.sqlite3", name), name
    assert f"stats kept in {logs / name}" in served.head + rest
    assert (logs / name).is_file()
    out = planktos("stats", "--stats-db", str(logs / name), "--json")
    assert json.loads(out.stdout)["periods"]["all"]["peers"] == 5
    # Without an access log: beside the site, which `planktos stats SITE` finds.
    with planktos_serve(site) as served:
        assert http(served.url + "planktos/stats", report(peers=7))[0] == 204
    assert (tmp_path / name).is_file()
    out = planktos("stats", str(site), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["periods"]["all"]["peers"] == 7


def test_planktos_stats_empty_database(tmp_path: Path) -> None:
    StatsDb(tmp_path / "empty.sqlite3").close()
    out = planktos("stats", "--stats-db", str(tmp_path / "empty.sqlite3"))
    assert out.returncode == 0 and "No data yet" in out.stdout
    data = json.loads(
        planktos("stats", "--stats-db", str(tmp_path / "empty.sqlite3"), "--json").stdout
    )
    assert data["since"] is None and data["periods"]["all"]["offload"] is None


def test_bad_stats_input_is_one_line(site: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database" * 200)
    cases = [
        (("stats", "--stats-db", str(tmp_path / "missing.sqlite3")), "no stats database here"),
        (("stats", "--stats-db", str(junk)), "not a Planktos stats database"),
        (("stats", str(site), "--stats-db", str(junk)), "cannot be combined"),
        (("stats",), "give the served SITE or --stats-db"),
        (("stats", str(tmp_path / "nowhere")), "is not a directory"),
        (("serve", str(site), "--stats-db", str(site / "stats.sqlite3")), "inside the served site"),
        (
            ("serve", str(site), "--port", "0", "--stats-db", str(junk)),
            "not a Planktos stats database",
        ),
    ]
    for args, reason in cases:
        proc = planktos(*args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert proc.stdout == "" and proc.stderr.count("\n") == 1, (args, proc.stderr)
        assert reason in proc.stderr, (args, proc.stderr)
    assert not (site / "stats.sqlite3").exists()


async def test_a_failed_write_keeps_the_counts_for_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "stats.sqlite3"
    service = StatsService(StatsDb(path), static_bytes=lambda: 0, tracker_stats=dict)
    service._pending[0] = Bucket(0, peers=42)
    service.db.close()  # every write now fails
    await service.flush()
    assert service._pending[0].peers == 42, "kept in memory"
    service.db = StatsDb(path)
    await service.flush()
    assert service._pending == {} and service.db.totals()[0].peers == 42
    service.db.close()
    service._executor.shutdown()


def test_sibling_sites_keep_separate_statistics_by_default(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.html").write_text(name)
    with planktos_serve(tmp_path / "one") as served:
        assert http(served.url + "planktos/stats", report(peers=5))[0] == 204
    out = planktos("stats", str(tmp_path / "one"), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["periods"]["all"]["peers"] == 5
    other = planktos("stats", str(tmp_path / "two"), "--json")
    assert other.returncode == 1 and "no stats database here" in other.stderr, other
    with planktos_serve(tmp_path / "two") as served:
        assert http(served.url + "planktos/stats", report(peers=7))[0] == 204
    other = planktos("stats", str(tmp_path / "two"), "--json")
    assert other.returncode == 0 and json.loads(other.stdout)["periods"]["all"]["peers"] == 7
    out = planktos("stats", str(tmp_path / "one"), "--json")
    assert json.loads(out.stdout)["periods"]["all"]["peers"] == 5


def test_the_old_shared_default_database_is_pointed_out(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    StatsDb(tmp_path / "planktos-stats.sqlite3").close()
    with planktos_serve(tmp_path / "site") as served:
        pass
    assert f"--stats-db {tmp_path / 'planktos-stats.sqlite3'}" in served.head, served.head


def test_another_programs_database_is_refused_and_left_untouched(
    site: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "app.sqlite3"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("INSERT INTO users VALUES ('ada')")
    db.close()
    also_meta = tmp_path / "app2.sqlite3"  # a table named like ours is not enough
    with sqlite3.connect(also_meta) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('owner', 'someone else')")
        db.execute("CREATE TABLE users (name TEXT)")
    db.close()
    for path, tables in ((foreign, "users"), (also_meta, "meta, users")):
        before = path.read_bytes()
        for args in (
            ("serve", str(site), "--port", "0", "--stats-db", str(path)),
            ("stats", "--stats-db", str(path)),
        ):
            proc = planktos(*args)
            assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
            assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
            assert f"another program's database (tables: {tables})" in proc.stderr, proc.stderr
        assert path.read_bytes() == before
    made = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("app"))
    assert made == ["app.sqlite3", "app2.sqlite3"], "no -wal or -journal file either"


async def test_one_address_forging_reports_with_fresh_ids_moves_the_figures_little(
    client: Client,
) -> None:
    claimed = 64 << 30  # the most one report may claim
    statuses: Counter[int] = Counter()
    for i in range(300):
        resp = await post(client, report(f"forged-visitor-{i:06}", peers=claimed))
        statuses[resp.status] += 1
    assert statuses == {204: 300}
    stats = await (await client.get("/planktos/stats")).json()
    peers = stats["aggregates"]["totals"]["peers"]
    # 16 MiB a minute from an address without tracker connections (two if a minute turned).
    assert 0 < peers <= 2 * (16 << 20), peers
    assert stats["reports"]["clipped_bytes"] == 300 * claimed - peers


async def test_an_address_with_tracker_connections_may_claim_more(client: Client) -> None:
    async def clipped() -> int:
        stats = await (await client.get("/planktos/stats")).json()
        return int(stats["reports"]["clipped_bytes"])

    claimed = 400 << 20
    assert (await post(client, report(peers=claimed))).status == 204
    assert await clipped() == claimed - (16 << 20)  # no tracker connection: 16 MiB
    sockets = [await client.ws_connect("/planktos/tracker") for _ in range(2)]
    assert (await post(client, report("ZyXwVuTsRqPoNmLkJiHgFe", peers=claimed))).status == 204
    assert await clipped() == claimed - (16 << 20), "counted in full: 16 MiB + 2 x 256 MiB"
    # A visitor's last report comes as its page goes away, when its socket may be closed.
    for ws in sockets:
        await ws.close()
    deadline = asyncio.get_running_loop().time() + 5
    while (await (await client.get("/planktos/stats")).json())["tracker"]["connections"]:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert (await post(client, report("ZyXwVuTsRqPoNmLkJiHgF2", peers=100 << 20))).status == 204
    assert await clipped() == claimed - (16 << 20), "the minute's sockets still count"


async def test_a_report_body_trickled_in_too_slowly_is_refused(aiohttp_client: Any) -> None:
    app = web.Application()
    service = StatsService(
        StatsDb(":memory:"), static_bytes=lambda: 0, tracker_stats=dict, body_timeout_s=0.3
    )
    service.install(app)
    client: Client = await aiohttp_client(app)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST /planktos/stats HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b'Content-Length: 120\r\n\r\n{"v": 1'
    )  # and the rest never comes
    started = asyncio.get_running_loop().time()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert 0.25 <= asyncio.get_running_loop().time() - started < 5
    writer.close()
