"""The requests ``planktos check`` makes, with aiohttp: plain GETs, ranges, a tracker scrape.

Every answer is recorded as a :class:`Got` (status 0 when there was none), so the checks in
:mod:`planktos.check.site` read like the judgments they make. Bodies are read as sent
(``auto_decompress=False``); requests that need the bytes ask for ``identity``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDict

CONCURRENCY = 6
MAX_BODY = 8 * 1024 * 1024
IDENTITY = {"Accept-Encoding": "identity"}
COMPRESSED = {"Accept-Encoding": "br, gzip"}
USER_AGENT = "planktos-check"
_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "x-gzip": gzip.decompress,
    "deflate": zlib.decompress,
}


@dataclass(slots=True)
class Got:
    """One answer: final URL, status (0: none), headers and body (up to ``MAX_BODY``)."""

    url: str
    status: int
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    body: bytes = b""
    error: str = ""
    location: str = ""  # of a redirect not followed

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Prober:
    """An HTTP client for one check run: bounded concurrency, one timeout per request."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._limit = asyncio.Semaphore(CONCURRENCY)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Prober:
        self._session = aiohttp.ClientSession(
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers={"User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use Prober in async with"
        return self._session

    async def get(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        method: str = "GET",
        data: bytes | None = None,
        redirects: bool = True,
        body: bool = True,
    ) -> Got:
        """``method url`` with ``headers`` (identity coding unless given otherwise)."""
        fields = {**IDENTITY, **(headers or {})}
        async with self._limit:
            try:
                async with self.session.request(
                    method, url, headers=fields, data=data, allow_redirects=redirects
                ) as resp:
                    got = Got(str(resp.url), resp.status, CIMultiDict(resp.headers))
                    got.location = resp.headers.get("Location", "")
                    if body and method != "HEAD":
                        got.body = await _read(resp.content, MAX_BODY)
                        coding = resp.headers.get("Content-Encoding", "").lower()
                        if fields["Accept-Encoding"] == "identity" and coding in _DECODERS:
                            got.body = _DECODERS[coding](got.body)  # sent coded all the same
                    return got
            except (
                TimeoutError,
                aiohttp.ClientError,
                OSError,
                ValueError,
                EOFError,
                zlib.error,
            ) as err:
                return Got(url, 0, error=_reason(err))

    async def scrape(self, url: str, info_hashes: list[bytes]) -> tuple[int, dict[str, Any], str]:
        """Open a WebSocket to the tracker at ``url`` and scrape ``info_hashes``.

        Returns the handshake status (101 when upgraded, 0 without an answer), the tracker's
        reply (empty when none came) and an error text.
        """
        async with self._limit:
            try:
                ws = await self.session.ws_connect(url, headers=IDENTITY, autoping=True)
            except aiohttp.WSServerHandshakeError as err:
                return err.status, {}, err.message
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as err:
                return 0, {}, _reason(err)
            try:
                if not info_hashes:
                    return 101, {}, ""
                hashes = [h.decode("latin-1") for h in info_hashes]
                await ws.send_str(json.dumps({"action": "scrape", "info_hash": hashes}))
                try:
                    msg = await ws.receive(timeout=self.timeout_s)
                except TimeoutError:
                    return 101, {}, "no answer to a scrape"
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return 101, {}, f"answered a scrape with a {msg.type.name} message"
                try:
                    reply = json.loads(msg.data)
                except ValueError:
                    return 101, {}, "answered a scrape with something that is not JSON"
                if not isinstance(reply, dict):
                    return 101, {}, "answered a scrape with JSON that is not an object"
                return 101, reply, ""
            finally:
                await ws.close()


async def _read(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The body, up to ``limit`` bytes (``read(n)`` returns what has arrived so far)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(limit - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _reason(err: BaseException) -> str:
    """A short text for a failed request."""
    if isinstance(err, asyncio.TimeoutError):
        return "timed out"
    if isinstance(err, aiohttp.ClientConnectorError):
        return f"cannot connect ({err.os_error.strerror or err.os_error})"
    text = str(err) or type(err).__name__
    return text.splitlines()[0]
