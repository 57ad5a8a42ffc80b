"""StaticFiles: exact statuses and headers for ranges, validators, CORS, paths and traversal.

Every HTTP test runs twice: with the body sent by ``sendfile`` and by chunked reads.
"""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict
from pytest_aiohttp import AiohttpClient
from yarl import URL

from planktos.server.static import StaticFiles, accepted_codings, cache_control, url_segments

MTIME_NS = 1_700_000_000_500_000_000
LAST_MODIFIED = "Tue, 14 Nov 2023 22:13:20 GMT"
EARLIER = "Tue, 14 Nov 2023 22:13:19 GMT"
LATER = "Wed, 15 Nov 2023 00:00:00 GMT"
SIZES = (0, 1, 16383, 16384, 16385)
SECRET = b"TOPSECRET-outside-the-root"
EXPOSE = "Content-Range, Content-Length, ETag, Accept-Ranges"
COMMON = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": EXPOSE,
    "x-content-type-options": "nosniff",
}
TEXT = "text/plain; charset=utf-8"
AWKWARD_NAMES = ("a b.txt", "100%.txt", "c#d.txt", "e?f.txt", "café.txt", "日本語.txt", "plus+.txt")
IMMUTABLE = "public, max-age=31536000, immutable"
TORRENT = "planktos/t/" + "ab" * 20 + ".torrent"
AGENT = "planktos/agent.0123456789abcdef.js"
# Precompressed copies (any bytes do: the server never looks inside them).
INSTALL, INSTALL_BR, INSTALL_GZ = b"install " * 40, b"br-copy", b"gzip-copy!"
AGENT_JS, AGENT_GZ = b"agent " * 100, b"agent-gzip"
TORRENT_BYTES = b"d4:infod4:name1:xee"
TORRENT_GZ = gzip.compress(TORRENT_BYTES, mtime=0)  # real: clients decompress it
TABLE = "planktos/i/" + "ab" * 32 + ".json"
TABLE_JSON = b'{"files": {}}' * 20
TABLE_GZ = gzip.compress(TABLE_JSON, mtime=0)
SEED_FILE = "planktos/w/" + "cd" * 20 + "/g-1/page.json"


def data(size: int) -> bytes:
    """``size`` bytes whose pattern (period 251) never lines up with powers of two."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


def etag(size: int) -> str:
    return f'"{size:x}-{MTIME_NS:x}"'


def put(root: Path, rel: str, content: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    """A site with edge-sized files, indexes, Planktos output, awkward names and traps."""
    put(tmp_path, "secret.txt", SECRET)
    root = tmp_path / "site"
    for size in SIZES:
        put(root, f"size-{size}.bin", data(size))
    put(root, "index.html", "<h1>home</h1>")
    put(root, "dir/index.html", "<h1>dir</h1>")
    put(root, "dir/page.txt", "page")
    (root / "empty").mkdir()
    put(root, "planktos.sw.js", "self.addEventListener('fetch', () => {});")
    put(root, "planktos/manifest.json", "{}")
    put(root, TORRENT, TORRENT_BYTES)
    put(root, "planktos/install.js", INSTALL)
    put(root, "planktos/install.js.br", INSTALL_BR)
    put(root, "planktos/install.js.gz", INSTALL_GZ)
    put(root, AGENT, AGENT_JS)
    put(root, AGENT + ".gz", AGENT_GZ)
    put(root, TORRENT + ".gz", TORRENT_GZ)
    put(root, TABLE, TABLE_JSON)
    put(root, TABLE + ".gz", TABLE_GZ)
    put(root, SEED_FILE, b"seed" * 10)
    put(root, SEED_FILE + ".gz", b"never sent as a coding")
    put(root, "x.tar", b"tar" * 100)
    put(root, "x.tar.gz", b"gz")  # a download of its own, never a coding of x.tar
    for name in ("x.wasm", "x.webm", "x.mp4", "x.svg", "x.css", "x.mjs"):
        put(root, name, name)
    for name in AWKWARD_NAMES:
        put(root, name, name)
    put(root, ".env", SECRET)
    put(root, ".git/config", SECRET)
    put(root, ".hidden/x.txt", SECRET)
    (root / "link-out").symlink_to(tmp_path / "secret.txt")
    (root / "linkdir-out").symlink_to(tmp_path)
    (root / "link-dot").symlink_to(root / ".env")
    (root / "link-in").symlink_to(root / "size-1.bin")
    (root / "dir" / "up").symlink_to(root)
    os.mkfifo(root / "fifo")
    for path in [*root.rglob("*"), root]:
        if not path.is_symlink() and path.name != "fifo":
            os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return root


@dataclass
class Served:
    static: StaticFiles
    client: TestClient[web.Request, web.Application] = field(init=False)
    running: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """StaticFiles.handle, tracking when it has returned (the client may read sooner)."""
        self.running += 1
        try:
            return await self.static.handle(request)
        finally:
            self.running -= 1

    async def settled(self) -> None:
        """Wait until no request is being handled."""
        async with asyncio.timeout(5):
            while self.running:
                await asyncio.sleep(0.001)

    async def fetch(
        self, method: str, path: str | URL, headers: Any = None, **kwargs: Any
    ) -> tuple[aiohttp.ClientResponse, bytes, int]:
        """Response, body and how many body bytes the handler counted for it."""
        before = self.static.bytes_sent
        async with self.client.request(method, path, headers=headers, **kwargs) as response:
            body = await response.read()
        await self.settled()
        return response, body, self.static.bytes_sent - before


@pytest.fixture(params=["sendfile", "chunks"])
async def served(
    request: pytest.FixtureRequest, aiohttp_client: AiohttpClient, docroot: Path
) -> Served:
    static = StaticFiles(docroot, use_sendfile=request.param == "sendfile")
    app = web.Application()
    served = Served(static)
    app.router.add_route("*", "/{tail:.*}", served.handle)
    served.client = await aiohttp_client(app)
    return served


def headers_of(response: aiohttp.ClientResponse) -> dict[str, str]:
    """Response headers but Date and Server, lower-cased; fails on a repeated header."""
    names = [name.lower() for name in response.headers]
    assert len(names) == len(set(names)), names
    assert "date" in names
    return {
        k.lower(): v for k, v in response.headers.items() if k.lower() not in ("date", "server")
    }


def representation(size: int) -> dict[str, str]:
    return {
        **COMMON,
        "accept-ranges": "bytes",
        "etag": etag(size),
        "last-modified": LAST_MODIFIED,
        "cache-control": "no-cache",
    }


def text_headers(body: str, **extra: str) -> dict[str, str]:
    return {**COMMON, **extra, "content-type": TEXT, "content-length": str(len(body.encode()))}


# --- The range and validator table --------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a request must get: status, exact headers and body, for a file of ``size``."""

    status: int
    headers: Callable[[int], dict[str, str]]
    body: Callable[[int], bytes]


def full() -> Outcome:
    return Outcome(
        200,
        lambda n: {
            **representation(n),
            "content-type": "application/octet-stream",
            "content-length": str(n),
        },
        data,
    )


def part(first: int, last: int) -> Outcome:
    return Outcome(
        206,
        lambda n: {
            **representation(n),
            "content-type": "application/octet-stream",
            "content-range": f"bytes {first}-{last}/{n}",
            "content-length": str(last - first + 1),
        },
        lambda n: data(n)[first : last + 1],
    )


UNSAT_BODY = "416 Requested Range Not Satisfiable\n"
UNSAT = Outcome(
    416,
    lambda n: text_headers(
        UNSAT_BODY, **{"accept-ranges": "bytes", "content-range": f"bytes */{n}"}
    ),
    lambda n: UNSAT_BODY.encode(),
)
NOT_MODIFIED = Outcome(304, representation, lambda n: b"")
FAILED_BODY = "412 Precondition Failed\n"
FAILED = Outcome(412, lambda n: text_headers(FAILED_BODY), lambda n: FAILED_BODY.encode())

Fields = Sequence[tuple[str, str]]
Row = tuple[str, int, str, Fields, Outcome]
IR, INM, IMS, IM, IUS = (
    "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"
)  # fmt: skip


def rng(spec: str, unit: str = "bytes") -> tuple[str, str]:
    """A ``Range`` field asking for ``spec``."""
    return ("Range", f"{unit}={spec}")


def rows_for_every_size() -> list[Row]:
    rows: list[Row] = []
    for n in SIZES:
        end = n - 1
        rows += [
            (f"full-{n}", n, "GET", [], full()),
            (f"head-{n}", n, "HEAD", [], full()),
            (f"0-0-{n}", n, "GET", [rng("0-0")], part(0, 0) if n else UNSAT),
            (f"0-open-{n}", n, "GET", [rng("0-")], part(0, end) if n else UNSAT),
            # a suffix of an empty file is satisfiable but selects nothing: whole (empty) file
            (f"suffix-1-{n}", n, "GET", [rng("-1")], part(end, end) if n else full()),
            (f"suffix-bigger-{n}", n, "GET", [rng(f"-{n + 5}")], part(0, end) if n else full()),
            (f"5-2-invalid-{n}", n, "GET", [rng("5-2")], full()),
            (f"N-open-{n}", n, "GET", [rng(f"{n}-")], UNSAT),
            (f"beyond-eof-{n}", n, "GET", [rng(f"{max(end, 0)}-{n + 100}")],
             part(end, end) if n else UNSAT),
            (f"multi-{n}", n, "GET", [rng("0-0,2-3")], full() if n else UNSAT),
            (f"garbage-unit-{n}", n, "GET", [rng("0-1", unit="items")], full()),
            (f"if-none-match-{n}", n, "GET", [(INM, "{etag}")], NOT_MODIFIED),
            (f"if-modified-since-{n}", n, "GET", [(IMS, "{lm}")], NOT_MODIFIED),
        ]  # fmt: skip
    return rows


BIG = 16385


def big(name: str, fields: Fields, outcome: Outcome, method: str = "GET") -> Row:
    """A row for the file of 16385 bytes (one past a 16 KiB piece)."""
    return (name, BIG, method, fields, outcome)


ROWS: list[Row] = [
    *rows_for_every_size(),
    big("piece-edge", [rng("16383-16384")], part(16383, 16384)),
    big("middle", [rng("100-16283")], part(100, 16283)),
    big("unit-case", [rng("0-0", unit="Bytes")], part(0, 0)),
    big("ows-and-empty-elements", [rng(" , 1-2, ")], part(1, 2)),
    big("range-repeated", [rng("0-0"), rng("1-1")], full()),
    big("range-on-head-ignored", [rng("0-0")], full(), method="HEAD"),
    big("if-range-etag", [rng("0-0"), (IR, "{etag}")], part(0, 0)),
    big("if-range-other-etag", [rng("0-0"), (IR, '"x"')], full()),
    big("if-range-weak-etag", [rng("0-0"), (IR, "W/{etag}")], full()),
    big("if-range-date", [rng("0-0"), (IR, "{lm}")], part(0, 0)),
    big("if-range-earlier", [rng("0-0"), (IR, "{earlier}")], full()),
    big("if-range-later", [rng("0-0"), (IR, LATER)], full()),
    big("if-range-garbage", [rng("0-0"), (IR, "x")], full()),
    big("if-range-without-range", [(IR, "{etag}")], full()),
    big("if-range-unsatisfiable", [rng(f"{BIG}-"), (IR, "{etag}")], UNSAT),
    big("if-range-stale-unsatisfiable", [rng(f"{BIG}-"), (IR, '"x"')], full()),
    big("inm-star", [(INM, "*")], NOT_MODIFIED),
    big("inm-list", [(INM, '"x", {etag}')], NOT_MODIFIED),
    big("inm-two-fields", [(INM, '"x"'), (INM, "{etag}")], NOT_MODIFIED),
    big("inm-weak", [(INM, "W/{etag}")], NOT_MODIFIED),
    big("inm-other", [(INM, '"x"')], full()),
    big("inm-garbage", [(INM, "garbage")], full()),
    big("inm-head", [(INM, "{etag}")], NOT_MODIFIED, method="HEAD"),
    big("inm-beats-range", [(INM, "{etag}"), rng("0-0")], NOT_MODIFIED),
    big("inm-beats-ims", [(INM, '"x"'), (IMS, "{lm}")], full()),
    big("ims-later", [(IMS, LATER)], NOT_MODIFIED),
    big("ims-earlier", [(IMS, "{earlier}")], full()),
    big("ims-garbage", [(IMS, "yesterday")], full()),
    big("ims-repeated", [(IMS, "{lm}"), (IMS, "{lm}")], full()),
    big("ims-rfc850", [(IMS, "Tuesday, 14-Nov-23 22:13:20 GMT")], NOT_MODIFIED),
    big("ims-asctime", [(IMS, "Tue Nov 14 22:13:20 2023")], NOT_MODIFIED),
    big("ims-head", [(IMS, "{lm}")], NOT_MODIFIED, method="HEAD"),
    big("if-match", [(IM, "{etag}")], full()),
    big("if-match-star", [(IM, "*")], full()),
    big("if-match-other", [(IM, '"x"')], FAILED),
    big("if-match-weak", [(IM, "W/{etag}")], FAILED),
    big("ius-equal", [(IUS, "{lm}")], full()),
    big("ius-earlier", [(IUS, "{earlier}")], FAILED),
    big("if-match-beats-ius", [(IM, "{etag}"), (IUS, "{earlier}")], full()),
]


@pytest.mark.parametrize(
    ("size", "method", "fields", "outcome"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
async def test_range_and_validators(
    served: Served, size: int, method: str, fields: Sequence[tuple[str, str]], outcome: Outcome
) -> None:
    values = {"etag": etag(size), "lm": LAST_MODIFIED, "earlier": EARLIER}
    sent = CIMultiDict((name, value.format(**values)) for name, value in fields)
    response, body, counted = await served.fetch(method, f"/size-{size}.bin", sent)
    assert response.status == outcome.status
    assert headers_of(response) == outcome.headers(size)
    expected = b"" if method == "HEAD" else outcome.body(size)
    assert body == expected
    assert counted == len(expected)


# --- Content types and caching --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "extra"),
    [
        ("/planktos.sw.js", "text/javascript; charset=utf-8",
         {"service-worker-allowed": "/", "vary": "Accept-Encoding"}),
        ("/planktos/manifest.json", "application/json; charset=utf-8", {"vary": "Accept-Encoding"}),
        ("/" + TORRENT, "application/x-bittorrent",
         {"cache-control": IMMUTABLE, "vary": "Accept-Encoding"}),
        ("/x.mjs", "text/javascript; charset=utf-8", {}),
        ("/x.wasm", "application/wasm", {}),
        ("/x.webm", "video/webm", {}),
        ("/x.mp4", "video/mp4", {}),
        ("/x.svg", "image/svg+xml", {}),
        ("/x.css", "text/css; charset=utf-8", {}),
        ("/dir/page.txt", "text/plain; charset=utf-8", {}),
        ("/index.html", "text/html; charset=utf-8", {}),
    ],
)  # fmt: skip
async def test_types_and_cache_policy(
    served: Served, docroot: Path, path: str, content_type: str, extra: dict[str, str]
) -> None:
    content = (docroot / path[1:]).read_bytes()
    # The identity files: codings are test_precompressed_copy_by_accept_encoding's.
    response, body, counted = await served.fetch("GET", path, {"Accept-Encoding": "identity"})
    assert response.status == 200
    assert body == content
    assert counted == len(content)
    size = len(content)
    assert headers_of(response) == {
        **representation(size),
        "content-type": content_type,
        "content-length": str(size),
        **extra,
    }


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("planktos", "t", "ab.torrent"), IMMUTABLE),
        (("planktos", "agent.0123456789abcdef.js"), IMMUTABLE),
        (("planktos", "agent.js"), "no-cache"),
        (("planktos", "agent.0123456789ABCDEF.js"), "no-cache"),
        (("planktos", "agent.0123456789abcdef.js.gz"), "no-cache"),
        (("planktos", "install.js"), "no-cache"),
        (("planktos", "i", "0f.json"), IMMUTABLE),
        (("planktos", "t"), "no-cache"),
        (("planktos", "manifest.json"), "no-cache"),
        (("planktos.sw.js",), "no-cache"),
        (("t", "planktos", "x"), "no-cache"),
        (("index.html",), "no-cache"),
    ],
)
def test_cache_control(parts: tuple[str, ...], expected: str) -> None:
    assert cache_control(parts) == expected


# --- Paths: indexes, redirects, names, traversal --------------------------------------------


@pytest.mark.parametrize(
    ("path", "file"),
    [("/", "index.html"), ("/dir/", "dir/index.html"), ("/dir/index.html", "dir/index.html"),
     ("/link-in", "size-1.bin"), ("/dir/up/size-1.bin", "size-1.bin"), ("/?x=1", "index.html")],
)  # fmt: skip
async def test_index_and_inside_links(served: Served, docroot: Path, path: str, file: str) -> None:
    response, body, _ = await served.fetch("GET", path)
    assert response.status == 200
    assert body == (docroot / file).read_bytes()


@pytest.mark.parametrize(
    ("path", "location"),
    [("/dir", "/dir/"), ("/dir?x=1&y=%2F", "/dir/?x=1&y=%2F"), ("/planktos", "/planktos/"),
     ("/dir/up", "/dir/up/")],
)  # fmt: skip
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_directory_without_slash_redirects(
    served: Served, method: str, path: str, location: str
) -> None:
    body_text = "301 Moved Permanently\n"
    response, body, counted = await served.fetch(
        method, URL(path, encoded=True), allow_redirects=False
    )
    assert response.status == 301
    assert headers_of(response) == text_headers(body_text, location=location)
    assert body == (b"" if method == "HEAD" else body_text.encode())
    assert counted == len(body)


@pytest.mark.parametrize(
    "path", ["/missing", "/empty/", "/planktos/", "/dir/page.txt/", "/fifo", "/missing/"]
)
async def test_not_found(served: Served, path: str) -> None:
    response, body, counted = await served.fetch("GET", path)
    assert response.status == 404
    assert headers_of(response) == text_headers("404 Not Found\n")
    assert body == b"404 Not Found\n"
    assert counted == len(body)


@pytest.mark.parametrize("name", AWKWARD_NAMES)
@pytest.mark.parametrize("encode", [quote, lambda name: quote(name).lower()])
async def test_awkward_names_reachable_when_percent_encoded(
    served: Served, name: str, encode: Callable[[str], str]
) -> None:
    response, body, _ = await served.fetch("GET", URL("/" + encode(name), encoded=True))
    assert response.status == 200
    assert body == name.encode()


async def raw_get(
    client: TestClient[web.Request, web.Application], target: bytes
) -> tuple[int, bytes]:
    """Send ``target`` byte for byte (no client-side normalization) and read the answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return int(answer.split(b" ", 2)[1]), answer


TRAVERSALS = [
    b"/../etc/passwd", b"/../secret.txt", b"/%2e%2e/x", b"/%2e%2e/secret.txt",
    b"/%2E%2E/secret.txt", b"/a/%2e%2e/%2e%2e/x", b"/dir/%2e%2e/%2e%2e/secret.txt",
    b"/a%2f..%2f..", b"/dir%2f..%2f..%2fsecret.txt", b"/..\\x", b"/..\\secret.txt", b"/%5c..",
    b"/%5c..%5csecret.txt", b"/x%00", b"/size-1.bin%00", b"/size-1.bin%00.html", b"/.env",
    b"/%2eenv", b"/.git/config", b"/.hidden/x.txt", b"/dir/../.env", b"/./size-1.bin",
    b"/dir/./page.txt", b"//secret.txt", b"/dir//page.txt", b"/link-out",
    b"/linkdir-out/secret.txt", b"/link-dot", b"/%zz", b"/%e9", b"/%c3", b"/dir/up/.env",
    b"/dir/up/../secret.txt", b"http://test/../secret.txt", b"/size-1.bin/..",
]  # fmt: skip


@pytest.mark.parametrize("target", TRAVERSALS, ids=[t.decode() for t in TRAVERSALS])
async def test_traversal_and_hidden_files_are_not_found(served: Served, target: bytes) -> None:
    before = served.static.bytes_sent
    status, answer = await raw_get(served.client, target)
    assert status == 404, answer
    assert SECRET not in answer
    assert b"root:" not in answer
    assert served.static.bytes_sent - before <= len(b"404 Not Found\n")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", ((), True)),
        ("/a/b", (("a", "b"), False)),
        ("/a/b/", (("a", "b"), True)),
        ("/a%20b/%E6%97%A5", (("a b", "日"), False)),
        ("/100%25", (("100%",), False)),
        ("/a+b", (("a+b",), False)),
        ("/%2e%2e", None),
        ("/a%2fb", None),
        ("/a%5cb", None),
        ("/a%00", None),
        ("/a//b", None),
        ("/.well-known/x", None),
        ("/%", None),
        ("/%4", None),
        ("/%ff", None),
        ("a/b", None),
        ("", None),
    ],
)
def test_url_segments(raw: str, expected: tuple[tuple[str, ...], bool] | None) -> None:
    assert url_segments(raw) == expected


# --- Methods and CORS -----------------------------------------------------------------------


async def test_cors_preflight(served: Served) -> None:
    asked = {
        "Origin": "https://elsewhere.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range, if-none-match",
    }
    response, body, counted = await served.fetch("OPTIONS", "/size-1.bin", asked)
    assert response.status == 204
    assert headers_of(response) == {
        **COMMON,
        "allow": "GET, HEAD, OPTIONS",
        "access-control-allow-methods": "GET, HEAD",
        "access-control-allow-headers": "range, if-none-match",
        "access-control-max-age": "86400",
    }
    assert body == b""
    assert counted == 0


async def test_plain_options(served: Served) -> None:
    response, body, _ = await served.fetch("OPTIONS", "/size-1.bin")
    assert response.status == 204
    assert headers_of(response) == {**COMMON, "allow": "GET, HEAD, OPTIONS"}
    assert body == b""


async def test_cross_origin_range_request_is_readable(served: Served) -> None:
    response, body, _ = await served.fetch(
        "GET", "/size-16385.bin", {"Origin": "https://elsewhere.example", "Range": "bytes=1-2"}
    )
    assert response.status == 206
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Expose-Headers"] == EXPOSE
    assert body == data(16385)[1:3]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_not_allowed(served: Served, method: str) -> None:
    response, body, _ = await served.fetch(method, "/size-1.bin")
    assert response.status == 405
    assert headers_of(response) == text_headers(
        "405 Method Not Allowed\n", allow="GET, HEAD, OPTIONS"
    )
    assert body == b"405 Method Not Allowed\n"


# --- Large files and files that change while sent -------------------------------------------


async def test_large_file_whole_and_ranged(served: Served, docroot: Path) -> None:
    content = os.urandom(5 * 1024 * 1024 + 7)
    put(docroot, "big.bin", content)
    response, body, counted = await served.fetch("GET", "/big.bin")
    assert response.status == 200
    assert body == content
    assert counted == len(content)
    response, body, counted = await served.fetch("GET", "/big.bin", {"Range": "bytes=1000000-"})
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes 1000000-{len(content) - 1}/{len(content)}"
    assert body == content[1000000:]
    assert counted == len(content) - 1000000


def change_after_open(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[Path], None], path: Path
) -> None:
    """Make ``change(path)`` happen between the handler's fstat and its sending."""
    opened = StaticFiles._open

    def open_then_change(self: StaticFiles, *args: Any) -> Any:
        found = opened(self, *args)
        change(path)
        return found

    monkeypatch.setattr(StaticFiles, "_open", open_then_change)


async def test_file_shrinking_while_sent_ends_the_connection(
    served: Served, docroot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = os.urandom(1024 * 1024)
    path = put(docroot, "shrinks.bin", content)
    change_after_open(monkeypatch, lambda p: os.truncate(p, 1000), path)
    async with served.client.get("/shrinks.bin") as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(content))
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    monkeypatch.undo()
    response, body, _ = await served.fetch("GET", "/shrinks.bin")  # the server lives on
    assert body == content[:1000]


async def test_file_growing_while_sent_keeps_its_framing(
    served: Served, docroot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = os.urandom(100_000)

    def grow(path: Path) -> None:
        with path.open("ab") as file:
            file.write(b"more" * 1000)

    path = put(docroot, "grows.bin", content)
    change_after_open(monkeypatch, grow, path)
    response, body, counted = await served.fetch("GET", "/grows.bin")
    assert response.headers["Content-Length"] == str(len(content))
    assert body == content
    assert counted == len(content)
    response, body, _ = await served.fetch("GET", "/size-1.bin")  # same connection, still framed
    assert body == data(1)


async def test_bytes_sent_adds_up(served: Served) -> None:
    assert served.static.bytes_sent == 0
    for size in SIZES:
        await served.fetch("GET", f"/size-{size}.bin")
        await served.fetch("HEAD", f"/size-{size}.bin")
    assert served.static.bytes_sent == sum(SIZES)


# --- Precompressed copies of Planktos' own files ----------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("br, gzip", {"br", "gzip"}),
        ("gzip, deflate, br, zstd", {"br", "gzip"}),
        ("GZIP", {"gzip"}),
        ("x-gzip", {"gzip"}),
        ("br;q=0, gzip", {"gzip"}),
        ("br; q=0.5, gzip;q=0.0", {"br"}),
        ("gzip;q=nonsense", set()),
        ("*", {"br", "gzip"}),
        ("*, br;q=0", {"gzip"}),
        ("*;q=0", set()),
        ("identity", set()),
        ("", set()),
        (",, ;q=1", set()),
    ],
)
def test_accepted_codings(accept: str, expected: set[str]) -> None:
    assert accepted_codings([accept]) == expected


def test_accepted_codings_joins_repeated_fields() -> None:
    assert accepted_codings(["gzip", "br"]) == {"br", "gzip"}
    assert accepted_codings([]) == set()


@pytest.mark.parametrize(
    ("path", "accept", "coding", "body"),
    [
        ("/planktos/install.js", "gzip, deflate, br", "br", INSTALL_BR),
        ("/planktos/install.js", "gzip", "gzip", INSTALL_GZ),
        ("/planktos/install.js", "br;q=0, gzip", "gzip", INSTALL_GZ),
        ("/planktos/install.js", "identity", None, INSTALL),
        ("/planktos/install.js", None, None, INSTALL),
        ("/" + AGENT, "br, gzip", "gzip", AGENT_GZ),  # no .br beside it
        ("/" + AGENT, "br", None, AGENT_JS),
    ],
)
async def test_precompressed_copy_by_accept_encoding(
    served: Served, path: str, accept: str | None, coding: str | None, body: bytes
) -> None:
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    skip = () if accept is not None else ("Accept-Encoding",)
    for method in ("GET", "HEAD"):
        async with served.client.request(
            method, path, headers=headers, skip_auto_headers=skip, auto_decompress=False
        ) as response:
            raw = await response.read()
        assert response.status == 200
        fields = headers_of(response)
        assert fields["vary"] == "Accept-Encoding"
        assert fields.get("content-encoding") == coding
        assert fields["content-length"] == str(len(body))
        assert fields["etag"] == etag(len(body))  # the copy's own validator
        assert fields["content-type"] == "text/javascript; charset=utf-8"
        expected_cache = IMMUTABLE if path == "/" + AGENT else "no-cache"
        assert fields["cache-control"] == expected_cache
        assert raw == (body if method == "GET" else b"")


async def test_precompressed_copy_revalidates_with_its_own_etag(served: Served) -> None:
    br = {"Accept-Encoding": "br"}
    response, _, _ = await served.fetch(
        "GET",
        "/planktos/install.js",
        {**br, "If-None-Match": etag(len(INSTALL_BR))},
        auto_decompress=False,
    )
    assert response.status == 304
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Content-Encoding"] == "br"
    # The identity file's validator does not match the brotli copy: the copy is sent.
    response, body, _ = await served.fetch(
        "GET",
        "/planktos/install.js",
        {**br, "If-None-Match": etag(len(INSTALL))},
        auto_decompress=False,
    )
    assert (response.status, body) == (200, INSTALL_BR)


async def test_range_gets_the_identity_file(served: Served) -> None:
    response, body, _ = await served.fetch(
        "GET", "/planktos/install.js", {"Accept-Encoding": "br, gzip", "Range": "bytes=0-9"}
    )
    assert response.status == 206
    assert body == INSTALL[:10]
    assert "Content-Encoding" not in response.headers
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Content-Range"] == f"bytes 0-9/{len(INSTALL)}"


@pytest.mark.parametrize(
    ("path", "body", "identity", "kind"),
    [
        (TABLE, TABLE_GZ, TABLE_JSON, "application/json"),
        (TORRENT, TORRENT_GZ, TORRENT_BYTES, "application/x-bittorrent"),
    ],
)
async def test_tables_and_torrents_are_negotiated(
    served: Served, path: str, body: bytes, identity: bytes, kind: str
) -> None:
    """What a visitor fetches per shard it touches comes gzipped, immutable as before."""
    response, raw, _ = await served.fetch(
        "GET", "/" + path, {"Accept-Encoding": "gzip, br"}, auto_decompress=False
    )
    assert (response.status, raw) == (200, body)
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Content-Type"].startswith(kind)
    assert response.headers["Cache-Control"] == IMMUTABLE
    response, raw, _ = await served.fetch(
        "GET", "/" + path, {"Accept-Encoding": "identity"}, auto_decompress=False
    )
    assert "Content-Encoding" not in response.headers
    assert raw == identity


async def test_web_seed_files_are_never_negotiated(served: Served) -> None:
    """A web seed file is a site file (a range of a shard): a .gz beside it is not its coding."""
    response, raw, _ = await served.fetch(
        "GET", "/" + SEED_FILE, {"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert raw == b"seed" * 10
    assert "Content-Encoding" not in response.headers


async def test_site_files_are_never_negotiated(served: Served) -> None:
    response, body, _ = await served.fetch(
        "GET", "/x.tar", {"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert body == b"tar" * 100
    assert "Content-Encoding" not in response.headers
    assert "Vary" not in response.headers
