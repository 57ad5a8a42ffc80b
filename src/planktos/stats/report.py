"""A visitor's report (``POST /planktos/stats``), parsed and bounded before anything counts it.

The browser runtime sends counter deltas since its previous report (js/agent/stats-*.js):

``{"v": 1, "id": "<random>", "store": B, "peers": B, "origin": B, "uploaded": B,
"rejected": N, "peers_connected": N}``

Every field is required, no other is allowed, and every count is a non-negative integer
below a bound no real visitor reaches in one report, so that one bad client cannot skew the
aggregates by more than a bounded amount.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from planktos.errors import PlanktosError

MAX_BODY_BYTES = 1024  # a real report is about 130 bytes
MAX_REPORT_BYTES = 1 << 36  # 64 GiB per source per report: far beyond a minute of any visitor
MAX_REJECTED = 100_000  # pieces or files failing verification in one report
MAX_PEERS_CONNECTED = 1_000  # WebRTC wires open at once (WebTorrent's default cap is 55)
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
CONTENT_TYPES = ("text/plain", "application/json")  # sendBeacon with a string sends text/plain

LIMITS: dict[str, int] = {
    "store": MAX_REPORT_BYTES,
    "peers": MAX_REPORT_BYTES,
    "origin": MAX_REPORT_BYTES,
    "uploaded": MAX_REPORT_BYTES,
    "rejected": MAX_REJECTED,
    "peers_connected": MAX_PEERS_CONNECTED,
}


class ReportError(PlanktosError):
    """A report that is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, subject: object, problem: str, status: int = 400) -> None:
        super().__init__(subject, problem)
        self.status = status


@dataclass(frozen=True)
class Report:
    """One visitor's counter deltas (bytes by source, uploaded, rejected) and a gauge."""

    client: str
    store: int
    peers: int
    origin: int
    uploaded: int
    rejected: int
    peers_connected: int


def check_content_type(content_type: str) -> None:
    """Refuse bodies that are not JSON text (415)."""
    if content_type not in CONTENT_TYPES:
        raise ReportError(
            "Content-Type", f"{content_type or 'missing'}: send text/plain or application/json", 415
        )


def parse_report(body: bytes) -> Report:
    """The report in ``body``; :class:`ReportError` naming the first thing wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise ReportError("body", f"larger than {MAX_BODY_BYTES} bytes", 413)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ReportError("body", "not JSON; send one JSON object") from err
    if not isinstance(data, dict):
        raise ReportError("body", "not a JSON object; send one object of counters")
    expected = {"v", "id", *LIMITS}
    unknown = sorted(set(data) - expected)
    if unknown:
        raise ReportError(unknown[0], "unknown field; remove it")
    missing = sorted(expected - set(data))
    if missing:
        raise ReportError(missing[0], "missing; every counter is required (0 when nothing new)")
    if data["v"] != 1 or isinstance(data["v"], bool):
        raise ReportError("v", f"{data['v']!r} is not a known version; send 1")
    client = data["id"]
    if not isinstance(client, str) or not CLIENT_ID.fullmatch(client):
        raise ReportError("id", "not 16-64 characters of [A-Za-z0-9_-]; send a random id")
    counts: dict[str, int] = {}
    for name, limit in LIMITS.items():
        value = data[name]
        if type(value) is not int:  # bool is an int subclass; floats and strings are refused
            raise ReportError(name, f"{value!r} is not an integer")
        if not 0 <= value <= limit:
            raise ReportError(name, f"{value} is outside 0..{limit}")
        counts[name] = value
    return Report(client=client, **counts)
