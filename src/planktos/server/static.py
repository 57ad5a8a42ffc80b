"""The site's static files over HTTP, with conditional and range requests done exactly.

Answers follow RFC 9110; the range rules live in :mod:`planktos.httprange`. Choices:

- GET and HEAD; OPTIONS answers CORS preflights (204); anything else is 405 with ``Allow``.
- A single range gets 206. Several ranges get the whole file with 200 (RFC 9110 §14.2 lets a
  server ignore ``Range``; browsers and WebTorrent ask for one range at a time). ``Range`` on
  HEAD is ignored, as §14.2 requires for every method but GET.
- Validators: a strong ``ETag`` made of size and ``mtime_ns`` (independent of the inode, so
  it survives copies that keep mtimes) and ``Last-Modified``. It would miss a change that
  kept both size and mtime to the nanosecond, e.g. content rewritten then ``touch -r``-ed.
- ``Cache-Control``: content-addressed files (``planktos/t/…`` torrents, ``planktos/i/…`` the
  manifest's tables, and the agent, ``planktos/agent.<16 hex>.js``) are immutable for a year;
  everything else, ``planktos.sw.js`` and ``planktos/manifest.json`` included, is ``no-cache``
  (revalidate with the ETag every time): site files change in place at the same URL, and
  returning visitors are made fast by the service worker, not the HTTP cache.
- Precompressed copies: for Planktos' own scripts, JSON and torrents (``planktos.sw.js``,
  ``planktos/*.js``, ``planktos/*.json``, ``planktos/i/*.json``, ``planktos/t/*.torrent``),
  ``<file>.br`` or else ``<file>.gz`` is sent when it
  exists and ``Accept-Encoding`` allows it (brotli first whatever the q-values, as nginx's
  ``*_static`` modules do; ``q=0`` refuses), with ``Content-Encoding`` and ``Vary:
  Accept-Encoding`` (on every answer for those paths). Validators and length are the copy's
  own. A request with ``Range`` gets the file itself: ranges of these small scripts are never
  asked for, and a range of the identity file needs no rule about ranges of a coding. Site
  files are never negotiated: a ``foo.tar`` beside a ``foo.tar.gz`` are two downloads.
- Every response carries ``Access-Control-Allow-Origin: *`` (web seed requests come from
  other origins) and ``X-Content-Type-Options: nosniff``.
- What must not be served answers 404 whatever the reason: missing, not a regular file,
  dot segments, ``%2f``/``\\``/NUL inside a segment, dotfiles and dot-directories, and
  symlinks that lead outside the root or to a dotfile.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

from aiohttp import web
from multidict import CIMultiDictProxy

from planktos.httprange import (
    ByteRange,
    IgnoredRange,
    MultipleRanges,
    RangeDecision,
    UnsatisfiableRange,
    content_range,
    format_http_date,
    if_match_matches,
    if_none_match_matches,
    if_range_matches,
    parse_http_date,
    parse_range,
    unsatisfied_content_range,
)
from planktos.mime import content_type
from planktos.server.accesslog import CountedResponse

ALLOW = "GET, HEAD, OPTIONS"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
SERVICE_WORKER = ("planktos.sw.js",)
_COMMON_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, ETag, Accept-Ranges",
    "X-Content-Type-Options": "nosniff",
}
_CHUNK = 256 * 1024
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


def url_segments(raw_path: str) -> tuple[tuple[str, ...], bool] | None:
    """Decoded segments of a percent-encoded URL path, and whether it ends with ``/``.

    Each segment is percent-decoded once, as UTF-8. None when the path must not reach the
    file system: empty, ``.``-led (dotfiles, ``.`` and ``..``, even encoded as ``%2e``),
    holding ``/`` (``%2f``), ``\\`` or NUL once decoded, malformed escapes, invalid UTF-8.
    """
    if not raw_path.startswith("/"):
        return None
    segments = raw_path[1:].split("/")
    directory = segments[-1] == ""
    if directory:
        segments.pop()
    parts: list[str] = []
    for raw in segments:
        if not raw or _BAD_PERCENT.search(raw):
            return None
        try:
            name = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
            return None
        parts.append(name)
    return tuple(parts), directory


def cache_control(parts: tuple[str, ...]) -> str:
    """``Cache-Control`` for a file: immutable under ``planktos/t/`` and ``planktos/i/`` and for
    the hashed agent, else revalidate."""
    if len(parts) > 2 and parts[0] == "planktos" and parts[1] in ("t", "i"):
        return IMMUTABLE
    if len(parts) == 2 and parts[0] == "planktos" and _HASHED_AGENT.fullmatch(parts[1]):
        return IMMUTABLE
    return REVALIDATE


_HASHED_AGENT = re.compile(r"agent\.[0-9a-f]{16}\.js")
# Content codings in the order we prefer them, with the suffix of their precompressed copies.
CODINGS = (("br", "br"), ("gzip", "gz"))


def negotiable(parts: tuple[str, ...]) -> bool:
    """Whether a path may be answered from a precompressed copy: Planktos' own files only
    (scripts and JSON in ``planktos/``, tables in ``planktos/i/``, torrents in ``planktos/t/``)."""
    if parts == SERVICE_WORKER:
        return True
    if len(parts) == 3 and parts[0] == "planktos":
        return (parts[1], parts[2].rpartition(".")[2]) in (("i", "json"), ("t", "torrent"))
    return len(parts) == 2 and parts[0] == "planktos" and parts[1].endswith((".js", ".json"))


def accepted_codings(values: list[str]) -> set[str]:
    """The content codings among ``br`` and ``gzip`` that ``Accept-Encoding`` accepts.

    RFC 9110 §12.5.3: a coding is acceptable when listed with a q-value above 0, or when
    ``*`` is (and it is not listed with q=0); ``x-gzip`` is ``gzip``. No field: none of them
    (identity is always acceptable and is what we send then).
    """
    listed: dict[str, bool] = {}
    for item in ",".join(values).split(","):
        name, *params = (p.strip() for p in item.split(";"))
        name = name.lower()
        if not name:
            continue
        if name == "x-gzip":
            name = "gzip"
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        listed[name] = listed.get(name, False) or q > 0
    star = listed.get("*", False)
    return {coding for coding, _ in CODINGS if listed.get(coding, star)}


def make_etag(size: int, mtime_ns: int) -> str:
    """A strong, quoted entity-tag from a file's size and modification time."""
    return f'"{size:x}-{mtime_ns:x}"'


@dataclass(frozen=True, slots=True)
class _Missing:
    """Nothing may be served for the path."""


@dataclass(frozen=True, slots=True)
class _Directory:
    """The path names a directory but lacks the trailing slash."""


@dataclass(frozen=True, slots=True)
class _OpenFile:
    """A regular file inside the root, opened, with the stat of the open descriptor."""

    file: BinaryIO
    stat: os.stat_result
    parts: tuple[str, ...]
    coding: str | None = None  # the Content-Encoding of a precompressed copy


class StaticFiles:
    """Serves the files under ``root``; mount :meth:`handle` on a catch-all route at ``/``
    (or, with ``prefix`` such as ``/docs``, on one under it: ``/docs/x`` is ``root/x``).

    ``bytes_sent`` counts every body byte this handler has put on the wire. Bodies go out
    with ``sendfile`` where the transport allows; ``use_sendfile=False`` reads in chunks.
    """

    def __init__(self, root: Path, *, use_sendfile: bool = True, prefix: str = "") -> None:
        self.root = root
        self.prefix = prefix  # the URL path the root is served at, without the final "/"
        self.bytes_sent = 0
        self._use_sendfile = use_sendfile

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request for the file at the request's whole URL path."""
        if request.method == "OPTIONS":
            return await self._options(request)
        if request.method not in ("GET", "HEAD"):
            return await self._plain(request, HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": ALLOW})
        segments = url_segments(request.rel_url.raw_path.removeprefix(self.prefix))
        if segments is None:
            return await self._plain(request, HTTPStatus.NOT_FOUND)
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, self._open, *segments)
        if isinstance(found, _Missing):
            return await self._plain(request, HTTPStatus.NOT_FOUND)
        if isinstance(found, _Directory):
            # Safe as a Location: url_segments rejected empty segments, so no "//host".
            location = request.rel_url.raw_path + "/"
            if query := request.rel_url.raw_query_string:
                location += "?" + query
            return await self._plain(request, HTTPStatus.MOVED_PERMANENTLY, {"Location": location})
        vary = negotiable(found.parts)
        if vary and not ("Range" in request.headers and request.method == "GET"):
            found = await loop.run_in_executor(None, self._encoded, found, request.headers)
        try:
            return await self._file(request, found, vary)
        finally:
            found.file.close()

    def _encoded(self, found: _OpenFile, fields: CIMultiDictProxy[str]) -> _OpenFile:
        """The precompressed copy of ``found`` that the request accepts, or ``found``; the
        file not sent is closed (blocking: runs in a thread)."""
        accepted = accepted_codings(fields.getall("Accept-Encoding", []))
        for coding, suffix in CODINGS:
            if coding not in accepted:
                continue
            copy = self._open((*found.parts[:-1], f"{found.parts[-1]}.{suffix}"), False)
            if isinstance(copy, _OpenFile):
                found.file.close()
                return _OpenFile(copy.file, copy.stat, found.parts, coding)
        return found

    def _open(self, parts: tuple[str, ...], directory: bool) -> _Missing | _Directory | _OpenFile:
        """Find and open the file for ``parts`` (blocking: runs in a thread)."""
        try:
            root = self.root.resolve(strict=True)
            path = _inside(root, root.joinpath(*parts))
            if path is None:
                return _Missing()
            if S_ISDIR(path.stat().st_mode):
                if not directory:
                    return _Directory()
                parts = (*parts, "index.html")
                path = _inside(root, path / "index.html")
                if path is None:
                    return _Missing()
            elif directory:
                return _Missing()
            # O_NONBLOCK: a FIFO swapped in after the checks must not hang the thread.
            fd = os.open(path, _OPEN_FLAGS)
        except (OSError, ValueError, RuntimeError):
            return _Missing()
        try:
            stat = os.fstat(fd)
            if not S_ISREG(stat.st_mode):
                os.close(fd)
                return _Missing()
            return _OpenFile(open(fd, "rb", buffering=0), stat, parts)
        except OSError:
            os.close(fd)
            return _Missing()

    async def _file(
        self, request: web.Request, found: _OpenFile, vary: bool = False
    ) -> web.StreamResponse:
        """Answer for an open file: 200, 206, 304, 412 or 416 (RFC 9110 §13.2.2 order)."""
        size = found.stat.st_size
        etag = make_etag(size, found.stat.st_mtime_ns)
        last_modified = found.stat.st_mtime_ns // 1_000_000_000
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Last-Modified": format_http_date(last_modified),
            "Cache-Control": cache_control(found.parts),
        }
        if found.parts == SERVICE_WORKER:
            headers["Service-Worker-Allowed"] = "/"
        if vary:
            headers["Vary"] = "Accept-Encoding"
        if found.coding:
            headers["Content-Encoding"] = found.coding
        fields = request.headers
        if_match = _joined(fields, "If-Match")
        if if_match is not None:
            if not if_match_matches(if_match, etag):
                return await self._plain(request, HTTPStatus.PRECONDITION_FAILED)
        elif (since := _date(fields, "If-Unmodified-Since")) is not None and last_modified > since:
            return await self._plain(request, HTTPStatus.PRECONDITION_FAILED)
        if_none_match = _joined(fields, "If-None-Match")
        if if_none_match is not None:
            if if_none_match_matches(if_none_match, etag):
                return await self._respond(request, HTTPStatus.NOT_MODIFIED, headers)
        elif (since := _date(fields, "If-Modified-Since")) is not None and last_modified <= since:
            return await self._respond(request, HTTPStatus.NOT_MODIFIED, headers)

        decision = _range_decision(request, size, etag, last_modified)
        if isinstance(decision, UnsatisfiableRange):
            extra = {"Accept-Ranges": "bytes", "Content-Range": unsatisfied_content_range(size)}
            return await self._plain(request, HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, extra)
        headers["Content-Type"] = content_type(found.parts[-1])
        if isinstance(decision, ByteRange):
            headers["Content-Range"] = content_range(decision, size)
            status, offset, count = HTTPStatus.PARTIAL_CONTENT, decision.start, decision.length
        else:
            status, offset, count = HTTPStatus.OK, 0, size
        response = await self._respond(request, status, headers, count)
        if request.method == "GET" and count:
            await self._send_file(request, response, found.file, offset, count)
        return response

    async def _send_file(
        self,
        request: web.Request,
        response: CountedResponse,
        file: BinaryIO,
        offset: int,
        count: int,
    ) -> None:
        """Send ``count`` bytes of ``file`` from ``offset``; close the connection if it shrank.

        Content-Length is already on the wire, so a file truncated meanwhile cannot be framed
        correctly: closing the connection early lets the client see an incomplete body
        instead of waiting for bytes, or misreading the next response as this one's tail.
        """
        loop = asyncio.get_running_loop()
        transport = request.transport
        if self._use_sendfile and transport is not None:
            try:
                sent = await loop.sendfile(transport, file, offset, count)
            except NotImplementedError:  # an event loop without sendfile: read in chunks
                pass
            else:
                self._count(response, sent)
                if sent < count:
                    transport.close()
                return
        sent = 0
        while sent < count:
            size = min(_CHUNK, count - sent)
            chunk = await loop.run_in_executor(None, os.pread, file.fileno(), size, offset + sent)
            if not chunk:
                break
            await response.write(chunk)
            sent += len(chunk)
            self._count(response, len(chunk))
        if sent < count and request.transport is not None:
            request.transport.close()

    def _count(self, response: CountedResponse, sent: int) -> None:
        """Add ``sent`` body bytes to the response's and the handler's counters."""
        response.body_bytes_sent += sent
        self.bytes_sent += sent

    async def _respond(
        self,
        request: web.Request,
        status: int,
        headers: Mapping[str, str],
        content_length: int | None = None,
    ) -> CountedResponse:
        """Send the status line and headers (plus the common ones); the body is up to the caller."""
        response = CountedResponse(status=status, headers={**_COMMON_HEADERS, **headers})
        if content_length is not None:
            response.content_length = content_length
        await response.prepare(request)
        return response

    async def _plain(
        self, request: web.Request, status: HTTPStatus, headers: Mapping[str, str] | None = None
    ) -> CountedResponse:
        """A short text/plain answer such as ``404 Not Found`` (no body for HEAD)."""
        body = f"{status.value} {status.phrase}\n".encode()
        fields = {**(headers or {}), "Content-Type": "text/plain; charset=utf-8"}
        response = await self._respond(request, status, fields, len(body))
        if request.method != "HEAD":
            await response.write(body)
            self._count(response, len(body))
        return response

    async def _options(self, request: web.Request) -> CountedResponse:
        """204 for OPTIONS; for a CORS preflight, allow GET and HEAD with the asked headers."""
        headers = {"Allow": ALLOW}
        if "Access-Control-Request-Method" in request.headers:
            headers["Access-Control-Allow-Methods"] = "GET, HEAD"
            if asked := request.headers.get("Access-Control-Request-Headers"):
                headers["Access-Control-Allow-Headers"] = asked
            headers["Access-Control-Max-Age"] = "86400"
        return await self._respond(request, HTTPStatus.NO_CONTENT, headers)


def _inside(root: Path, path: Path) -> Path | None:
    """``path`` with symlinks resolved if it stays inside ``root`` and avoids dotfiles."""
    real = path.resolve(strict=True)
    if not real.is_relative_to(root):
        return None
    if any(part.startswith(".") for part in real.relative_to(root).parts):
        return None
    return real


def _joined(fields: CIMultiDictProxy[str], name: str) -> str | None:
    """A list-valued field's lines joined with commas (RFC 9110 §5.3); None when absent."""
    values = fields.getall(name, [])
    return ", ".join(values) if values else None


def _date(fields: CIMultiDictProxy[str], name: str) -> int | None:
    """A date field's value in seconds; None if absent, repeated or invalid (§13.1.3)."""
    values = fields.getall(name, [])
    return parse_http_date(values[0]) if len(values) == 1 else None


def _range_decision(
    request: web.Request, size: int, etag: str, last_modified: int
) -> RangeDecision:
    """How to answer the request's ``Range`` field, after ``If-Range`` (RFC 9110 §13.1.5)."""
    ranges = request.headers.getall("Range", [])
    if request.method != "GET" or not ranges:
        return IgnoredRange("no Range on a GET")
    if len(ranges) > 1:
        return IgnoredRange("Range field repeated")
    if_range = request.headers.getall("If-Range", [])
    if if_range and (len(if_range) > 1 or not if_range_matches(if_range[0], etag, last_modified)):
        return IgnoredRange("If-Range does not match")
    decision = parse_range(ranges[0], size)
    if isinstance(decision, MultipleRanges):
        return IgnoredRange(f"{decision.count} ranges: whole file sent")
    return decision
