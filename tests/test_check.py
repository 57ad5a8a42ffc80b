"""The pure judgments of ``planktos check`` (planktos/check/judge.py) and its report, one test
per case; tests/test_deploy.py runs the whole check against real servers."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from aiohttp import web

from planktos.check.findings import Finding, Report, error, ok, warning
from planktos.check.judge import (
    RangeAnswer,
    base_problems,
    check_site_url,
    compression_problems,
    immutable_problems,
    install_sources,
    is_local,
    range_problems,
    revalidated_problems,
    script_type_problems,
    tracker_url,
)
from planktos.check.probe import Prober
from planktos.errors import InputError

URL = "http://127.0.0.1:8080/f"


@pytest.mark.parametrize(
    ("given", "site"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ("https://example.com/docs", "https://example.com/docs/"),
        ("https://example.com/docs/", "https://example.com/docs/"),
        ("https://example.com/docs/planktos/manifest.json", "https://example.com/docs/"),
        ("https://[::1]:8443/", "https://[::1]:8443/"),
    ],
)
def test_site_url(given: str, site: str) -> None:
    assert check_site_url(given) == site


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://example.com/",
        "example.com",
        "/docs/",
        "http://",
        "http://x/?a=1",
        "http://x/#f",
        "http://x:99999/",
    ],
)
def test_site_url_refused(bad: str) -> None:
    with pytest.raises(InputError) as exc:
        check_site_url(bad)
    assert str(exc.value).startswith(bad + ": ")


def test_local_hosts() -> None:
    assert is_local("http://127.0.0.1:1/") and is_local("http://localhost/")
    assert is_local("http://[::1]/") and is_local("http://a.localhost/")
    assert not is_local("http://example.com/") and not is_local("http://10.0.0.1/")


def answer(status: int, content_range: str | None, body: bytes) -> RangeAnswer:
    headers = {"Content-Range": content_range} if content_range else {}
    return RangeAnswer(status, headers, body)


def test_range_exact() -> None:
    assert range_problems("r", URL, 10, 19, 100, answer(206, "bytes 10-19/100", b"x" * 10)) == []


def test_range_ignored() -> None:
    [f] = range_problems("r", URL, 10, 19, 100, answer(200, None, b"x" * 100))
    assert f.level == "error" and "200 and the whole file" in f.problem


def test_range_other_status() -> None:
    [f] = range_problems("r", URL, 10, 19, 100, answer(404, None, b""))
    assert f.level == "error" and "with 404, not 206" in f.problem


@pytest.mark.parametrize(
    "content_range", ["bytes 10-19/*", "bytes 10-20/100", "bytes 0-9/100", None]
)
def test_range_inexact_content_range(content_range: str | None) -> None:
    [f] = range_problems("r", URL, 10, 19, 100, answer(206, content_range, b"x" * 10))
    assert "Content-Range" in f.problem and "'bytes 10-19/100'" in f.problem


def test_range_short_body() -> None:
    [f] = range_problems("r", URL, 10, 19, 100, answer(206, "bytes 10-19/100", b"x" * 9))
    assert "with 9 bytes, not 10" in f.problem


@pytest.mark.parametrize(
    "value", ["no-cache", "no-store", "max-age=0", "public, max-age=60", "No-Cache"]
)
def test_revalidated(value: str) -> None:
    assert revalidated_problems("m", URL, {"Cache-Control": value}) == []


@pytest.mark.parametrize(
    "headers", [{}, {"Cache-Control": "max-age=3600"}, {"Cache-Control": "public"}]
)
def test_not_revalidated(headers: dict[str, str]) -> None:
    [f] = revalidated_problems("m", URL, headers)
    assert f.level == "error" and "no-cache" in f.fix


def test_immutable() -> None:
    good = {"Cache-Control": "public, max-age=31536000, immutable"}
    assert immutable_problems("t", URL, good) == []
    for headers in ({}, {"Cache-Control": "no-cache"}, {"Cache-Control": "max-age=600"}):
        [f] = immutable_problems("t", URL, headers)
        assert f.level == "warning" and "immutable" in f.fix


@pytest.mark.parametrize(
    "kind", ["text/javascript", "application/javascript; charset=utf-8", "Text/JavaScript"]
)
def test_script_types(kind: str) -> None:
    assert script_type_problems("w", URL, {"Content-Type": kind}) == []


@pytest.mark.parametrize(
    "headers", [{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/octet-stream"}]
)
def test_not_script_types(headers: dict[str, str]) -> None:
    [f] = script_type_problems("w", URL, headers)
    assert f.level == "error" and "refuse" in f.problem


TEXT = b"var planktos = 1;\n" * 400


def test_compressed_with_vary() -> None:
    headers = {"Content-Encoding": "br", "Vary": "Accept-Encoding"}
    assert compression_problems("a", URL, TEXT, headers) == []


def test_compressed_without_vary() -> None:
    [f] = compression_problems("a", URL, TEXT, {"Content-Encoding": "gzip"})
    assert f.level == "warning" and "Vary" in f.problem


def test_uncompressed_when_it_pays() -> None:
    [f] = compression_problems("a", URL, TEXT, {})
    assert f.level == "warning" and f"{len(gzip.compress(TEXT, 6)) / 1000:.1f} kB" in f.problem


def test_uncompressed_when_it_does_not_pay() -> None:
    assert compression_problems("a", URL, os.urandom(50_000), {}) == []  # incompressible
    assert compression_problems("a", URL, b"x" * 1000, {}) == []  # too small to matter


def test_install_sources() -> None:
    html = """<head><script src="/docs/planktos/install.js" async></script>
    <script src='../planktos/install.js'></script><script src=planktos/install.js?v=1></script>
    <script src="/js/app.js"></script><link href="/planktos/install.js"></head>"""
    page = "http://x/docs/guide/a.html"
    assert install_sources(html, page) == [
        "http://x/docs/planktos/install.js",
        "http://x/docs/planktos/install.js",
        "http://x/docs/guide/planktos/install.js?v=1",
    ]
    assert install_sources("<p>nothing</p>", page) == []


SITE = "https://example.com/docs/"
MANIFEST = SITE + "planktos/manifest.json"


@pytest.mark.parametrize("base", ["/docs/", SITE])
def test_base_matches(base: str) -> None:
    assert base_problems(base, SITE, MANIFEST) == []
    assert base_problems(None, "https://example.com/", MANIFEST) == []


def test_base_root_served_under_a_path() -> None:
    [f] = base_problems(None, SITE, MANIFEST)
    assert "root of its origin" in f.problem and "--base-url /docs/" in f.fix


def test_base_other_path() -> None:
    [f] = base_problems("/site/", SITE, MANIFEST)
    assert "built with --base-url /site/" in f.problem and "--base-url /docs/" in f.fix


def test_base_other_origin() -> None:
    [f] = base_problems("https://old.example.com/docs/", SITE, MANIFEST)
    assert "another origin" in f.problem and f"--base-url {SITE}" in f.fix


def test_tracker_urls() -> None:
    assert tracker_url("planktos/tracker", SITE) == "wss://example.com/docs/planktos/tracker"
    assert tracker_url("/t", "http://127.0.0.1:1/docs/") == "ws://127.0.0.1:1/t"
    assert tracker_url("wss://t.example.com/", SITE) == "wss://t.example.com/"


def test_finding_line() -> None:
    f = error("tracker", "ws://x/t", "answered 404", "proxy it")
    assert f.line() == "error   tracker: ws://x/t: answered 404; proxy it"
    assert ok("pages", "", "6 pages").line() == "ok      pages: 6 pages"


def test_report_collapses_alike_problems_and_counts() -> None:
    report = Report("http://x/")
    report.findings = [
        error("web seeds", "http://x/a", "answered 200", "use Range"),
        error("web seeds", "http://x/b", "answered 200", "use Range"),
        error("web seeds", "http://x/c", "other bytes", "rebuild"),
        warning("torrents", "http://x/t1", "no Cache-Control", "cache it"),
        warning("torrents", "http://x/t2", "no Cache-Control", "cache it"),
        ok("pages", "http://x/", "fine"),
    ]
    report.collapse()
    assert [f.url for f in report.findings] == [
        "http://x/a",
        "http://x/c",
        "http://x/t1",
        "http://x/",
    ]
    assert report.findings[0].problem == "answered 200 (and 1 more like it)"
    assert (report.errors, report.warnings) == (2, 1)
    assert report.exit_status() == 1
    data = json.loads(report.json())
    assert data["errors"] == 2 and data["findings"][0] == {
        "area": "web seeds",
        "level": "error",
        "url": "http://x/a",
        "problem": "answered 200 (and 1 more like it)",
        "fix": "use Range",
    }
    assert report.text().splitlines()[-1] == "2 errors, 1 warning"


def test_exit_status_strict() -> None:
    report = Report("http://x/", findings=[Finding("a", "warning", "", "slow", "fix")])
    assert report.exit_status() == 0 and report.exit_status(strict=True) == 1
    assert Report("http://x/").exit_status(strict=True) == 0


async def test_probe_decodes_a_body_coded_despite_identity(aiohttp_server: Any) -> None:
    """A server that gzips whatever the request accepts: the check still reads the bytes."""
    body = b'{"format": "planktos-manifest"}' * 10
    asked: list[str] = []

    async def coded(request: web.Request) -> web.Response:
        asked.append(request.headers["Accept-Encoding"])
        return web.Response(body=gzip.compress(body), headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/m", coded)
    server = await aiohttp_server(app)
    async with Prober(5.0) as prober:
        got = await prober.get(str(server.make_url("/m")))
        compressed = await prober.get(str(server.make_url("/m")), {"Accept-Encoding": "gzip"})
    assert got.status == 200 and got.body == body
    assert compressed.body == gzip.compress(body)  # asked for, so kept as sent
    assert asked == ["identity", "gzip"]


def test_the_command_line_does_not_import_the_http_client() -> None:
    """``planktos build`` starts without aiohttp's client: only ``planktos check`` needs it
    (a slower start let a SIGTERM sent 1 s after launch kill a build before its handler)."""
    code = "import sys, planktos.cli; print(sorted(m for m in sys.modules if 'aiohttp' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
