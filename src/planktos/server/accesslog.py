"""Access log in Common Log Format, so that origin traffic can be summed from the file.

Each line is ``host ident authuser [date] "request line" status bytes`` where ``bytes`` is the
number of body bytes sent (``-`` for none). aiohttp's own ``%b`` counts header bytes and
misses what ``sendfile`` sent, so handlers that stream files return a :class:`CountedResponse`
that records its body bytes; other responses are counted from their ``Content-Length``.

Use: ``web.AppRunner(app, access_log_class=ClfAccessLogger, access_log=open_access_log(path))``
and ``close_access_log(logger)`` at shutdown.
"""

from __future__ import annotations

import datetime
import logging
import re
from pathlib import Path
from typing import NamedTuple

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.helpers import must_be_empty_body
from aiohttp.typedefs import LooseHeaders

from planktos.errors import InputError, PlanktosError

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class CountedResponse(web.StreamResponse):
    """A streamed response whose handler records in ``body_bytes_sent`` what it has sent."""

    def __init__(
        self, *, status: int = 200, reason: str | None = None, headers: LooseHeaders | None = None
    ) -> None:
        super().__init__(status=status, reason=reason, headers=headers)
        self.body_bytes_sent = 0


class ClfEntry(NamedTuple):
    """The parts of a log line that traffic counts need."""

    method: str
    path: str
    status: int
    body_bytes: int


def body_bytes(request: web.BaseRequest, response: web.StreamResponse) -> int:
    """Body bytes sent for ``response``: exact for a CountedResponse, else its Content-Length.

    A response with neither (a chunked stream, a WebSocket) counts as 0.
    """
    if isinstance(response, CountedResponse):
        return response.body_bytes_sent
    if must_be_empty_body(request.method, response.status):
        return 0
    return response.content_length or 0


def format_clf_line(
    host: str | None,
    when: datetime.datetime,
    request_line: str,
    status: int,
    body_bytes: int,
) -> str:
    """One Common Log Format line; ``when`` must be timezone-aware.

    The request line is escaped as Apache does (``\\"``, ``\\\\``, ``\\xhh`` for control and
    non-ASCII bytes) so that a line always splits unambiguously.
    """
    stamp = (
        f"{when.day:02d}/{_MONTHS[when.month - 1]}/{when.year:04d}:"
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {when.strftime('%z')}"
    )
    size = str(body_bytes) if body_bytes else "-"
    return f'{host or "-"} - - [{stamp}] "{_escape(request_line)}" {status} {size}'


def _escape(text: str) -> str:
    """Escape ``"``, ``\\``, control and non-ASCII characters (as UTF-8 bytes) in ``text``."""
    out: list[str] = []
    for byte in text.encode("utf-8", "surrogateescape"):
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


_CLF_LINE = re.compile(r'(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" ([0-9]{3}) ([0-9]+|-)')
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|.)")


def parse_clf_line(line: str) -> ClfEntry:
    """Method, request target, status and body bytes of one line written by this module."""
    match = _CLF_LINE.fullmatch(line.rstrip("\r\n"))
    if match is None:
        raise PlanktosError(line.rstrip("\r\n"), "not a Common Log Format line")
    request_line = _unescape(match.group(5))
    method, _, rest = request_line.partition(" ")
    target = rest.rpartition(" ")[0] if rest.count(" ") else rest
    size = match.group(7)
    return ClfEntry(method, target, int(match.group(6)), 0 if size == "-" else int(size))


def _unescape(text: str) -> str:
    """Undo :func:`_escape`."""
    raw = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(text):
        raw += text[pos : match.start()].encode("ascii", "surrogateescape")
        code = match.group(1)
        raw += bytes([int(code[1:], 16)]) if len(code) == 3 else code.encode()
        pos = match.end()
    raw += text[pos:].encode("ascii", "surrogateescape")
    return raw.decode("utf-8", "surrogateescape")


class ClfAccessLogger(AbstractAccessLogger):
    """aiohttp access logger writing one Common Log Format line per response.

    aiohttp builds one per connection as ``ClfAccessLogger(logger, log_format)``; the format
    is ignored and lines go to ``logger`` at INFO level (see :func:`open_access_log`).
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write the line for one finished request; ``time`` is how long it took, in seconds."""
        now = datetime.datetime.now(datetime.UTC)
        when = now - datetime.timedelta(seconds=time)
        major, minor = request.version
        request_line = f"{request.method} {request.raw_path} HTTP/{major}.{minor}"
        line = format_clf_line(
            request.remote, when, request_line, response.status, body_bytes(request, response)
        )
        self.logger.info(line)

    @property
    def enabled(self) -> bool:
        """Whether lines would be written at all."""
        return self.logger.isEnabledFor(logging.INFO)


def open_access_log(path: Path) -> logging.Logger:
    """A logger appending lines to ``path``, flushed after every line.

    The logger is not registered with :mod:`logging` (no global state, nothing propagates to
    the root logger); close it with :func:`close_access_log`.
    """
    logger = logging.Logger(f"planktos.access:{path}", logging.INFO)
    logger.propagate = False
    try:
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    except OSError as err:
        raise InputError(path, f"cannot open the access log ({err.strerror})") from err
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


def close_access_log(logger: logging.Logger) -> None:
    """Flush and close the file behind a logger made by :func:`open_access_log`."""
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
