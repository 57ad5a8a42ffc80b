"""Access log lines: Common Log Format out, traffic counts back in."""

from __future__ import annotations

import datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from planktos.errors import InputError, PlanktosError
from planktos.server.accesslog import (
    ClfAccessLogger,
    ClfEntry,
    close_access_log,
    format_clf_line,
    open_access_log,
    parse_clf_line,
)
from planktos.server.static import StaticFiles

WHEN = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.UTC)


def test_format_line() -> None:
    line = format_clf_line("127.0.0.1", WHEN, "GET /a%20b?x=1 HTTP/1.1", 206, 16385)
    assert line == '127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET /a%20b?x=1 HTTP/1.1" 206 16385'


def test_format_line_without_bytes_or_host() -> None:
    line = format_clf_line(None, WHEN, "HEAD / HTTP/1.1", 304, 0)
    assert line == '- - - [14/Nov/2023:22:13:20 +0000] "HEAD / HTTP/1.1" 304 -'


def test_format_line_keeps_the_offset() -> None:
    paris = datetime.timezone(datetime.timedelta(hours=1))
    line = format_clf_line("::1", WHEN.astimezone(paris), "GET / HTTP/1.0", 200, 1)
    assert line == '::1 - - [14/Nov/2023:23:13:20 +0100] "GET / HTTP/1.0" 200 1'


@pytest.mark.parametrize(
    "target", ['/say"hi"', "/back\\slash", "/new\nline", "/caf\u00e9", "/tab\there", "/%22"]
)
def test_escaped_request_lines_round_trip(target: str) -> None:
    line = format_clf_line("h", WHEN, f"GET {target} HTTP/1.1", 200, 5)
    assert "\n" not in line
    assert line.isascii()
    assert parse_clf_line(line) == ClfEntry("GET", target, 200, 5)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('1.2.3.4 - - [14/Nov/2023:22:13:20 +0000] "GET /x HTTP/1.1" 200 10\n',
         ClfEntry("GET", "/x", 200, 10)),
        ('1.2.3.4 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 304 -',
         ClfEntry("GET", "/a.gif", 304, 0)),
        ('- - - [14/Nov/2023:22:13:20 +0000] "BREW /pot" 418 -', ClfEntry("BREW", "/pot", 418, 0)),
        ('h - - [14/Nov/2023:22:13:20 +0000] "" 400 12', ClfEntry("", "", 400, 12)),
    ],
)  # fmt: skip
def test_parse_line(line: str, expected: ClfEntry) -> None:
    assert parse_clf_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        '1.2.3.4 - - [14/Nov/2023:22:13:20 +0000] "GET /x HTTP/1.1" 200',
        '1.2.3.4 - - [14/Nov/2023:22:13:20 +0000] "GET /x HTTP/1.1" 200 ten',
        '1.2.3.4 - - [14/Nov/2023:22:13:20 +0000] "GET /"x" HTTP/1.1" 200 1',
        '1.2.3.4 - - 14/Nov/2023:22:13:20 +0000 "GET /x HTTP/1.1" 200 1',
    ],
)
def test_parse_rejects_other_lines(line: str) -> None:
    with pytest.raises(PlanktosError, match="not a Common Log Format line"):
        parse_clf_line(line)


def test_open_access_log_appends(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("old line\n")
    logger = open_access_log(path)
    logger.info("new line")
    assert path.read_text() == "old line\nnew line\n"  # flushed at once, no close needed
    close_access_log(logger)
    assert not logger.handlers


def test_open_access_log_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open the access log"):
        open_access_log(tmp_path / "missing" / "access.log")


async def test_log_of_a_running_server_sums_to_the_bytes_sent(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    content = bytes(range(256)) * 100
    (root / "a b.bin").write_bytes(content)
    static = StaticFiles(root)
    app = web.Application()

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"bytes": static.bytes_sent})

    app.router.add_get("/planktos/stats", stats)
    app.router.add_route("*", "/{tail:.*}", static.handle)
    log_path = tmp_path / "access.log"
    logger = open_access_log(log_path)
    runner = web.AppRunner(app, access_log_class=ClfAccessLogger, access_log=logger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    stats_body = b""
    try:
        async with aiohttp.ClientSession() as session:
            requests = [
                ("GET", "/a%20b.bin", {}),
                ("GET", "/a%20b.bin", {"Range": "bytes=100-199"}),
                ("HEAD", "/a%20b.bin", {}),
                ("GET", "/missing?q=1", {}),
                ("OPTIONS", "/a%20b.bin", {}),
            ]
            for method, path, headers in requests:
                url = URL(base + path, encoded=True)
                async with session.request(method, url, headers=headers) as response:
                    await response.read()
            async with session.get(base + "/a%20b.bin") as response:
                etag = response.headers["ETag"]
                await response.read()
            async with session.get(base + "/a%20b.bin", headers={"If-None-Match": etag}) as r:
                assert r.status == 304
            async with session.get(base + "/planktos/stats") as response:
                stats_body = await response.read()
    finally:
        await runner.cleanup()
        close_access_log(logger)

    entries = [parse_clf_line(line) for line in log_path.read_text().splitlines()]
    not_found = len(b"404 Not Found\n")
    assert entries == [
        ClfEntry("GET", "/a%20b.bin", 200, len(content)),
        ClfEntry("GET", "/a%20b.bin", 206, 100),
        ClfEntry("HEAD", "/a%20b.bin", 200, 0),
        ClfEntry("GET", "/missing?q=1", 404, not_found),
        ClfEntry("OPTIONS", "/a%20b.bin", 204, 0),
        ClfEntry("GET", "/a%20b.bin", 200, len(content)),
        ClfEntry("GET", "/a%20b.bin", 304, 0),
        ClfEntry("GET", "/planktos/stats", 200, len(stats_body)),
    ]
    static_entries = entries[:-1]
    assert sum(entry.body_bytes for entry in static_entries) == static.bytes_sent
