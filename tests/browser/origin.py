"""The origin of a browser test: ``planktos serve`` with an access log, stoppable and restartable.

Traffic is counted from the access log (Common Log Format with body bytes), parsed with
:func:`planktos.server.accesslog.parse_clf_line`, and attributed to the site's files: a
request for a file's own URL, or for its place in a web seed tree, counts for that file.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from urllib.request import urlopen

from planktos.server.accesslog import ClfEntry, parse_clf_line
from tests.browser.sites import Built
from tests.servers import Served, planktos_serve


class Origin:
    """``planktos serve ROOT --access-log LOG ARGS`` that a test can stop and start again.

    A restart keeps the port, so pages and service workers see the same origin.
    """

    def __init__(self, root: Path, log: Path, *args: str) -> None:
        self.root = root
        self.log = log
        self.args = args
        self.port = 0
        self.runs: list[str] = []  # each run's output, once it has stopped
        self._stack: ExitStack | None = None
        self._served: Served | None = None

    @property
    def url(self) -> str:
        assert self.port, "the origin never started"
        return f"http://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self._served is not None

    def start(self) -> None:
        assert self._stack is None, "already running"
        stack = ExitStack()
        port = ("--port", str(self.port)) if self.port else ()
        self._served = stack.enter_context(
            planktos_serve(self.root, "--access-log", str(self.log), *self.args, *port)
        )
        self._stack = stack
        self.port = self._served.port

    def stop(self) -> None:
        """Stop serving (connections are refused until :meth:`start`)."""
        if self._stack is None or self._served is None:
            return
        proc = self._served.proc
        self._stack.close()
        self._stack = None
        self._served = None
        self.runs.append(proc.stdout.read() if proc.stdout else "")

    def output(self) -> str:
        """What every run printed after its first line, and the access log."""
        runs = "\n".join(
            f"--- planktos serve, run {i + 1}:\n{out}" for i, out in enumerate(self.runs)
        )
        log = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        return f"{runs}\n--- access log ({self.log}):\n{log}"

    def stats(self) -> dict[str, object]:
        with urlopen(self.url + "planktos/stats", timeout=5) as resp:
            data: dict[str, object] = json.loads(resp.read())
        return data

    def entries(self) -> list[ClfEntry]:
        """Every access log line so far, parsed."""
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [parse_clf_line(line) for line in lines if line]

    def settle(self, timeout: float = 10.0) -> list[ClfEntry]:
        """The access log once every response sent so far is in it.

        A line is written when a response has been sent, so the browser may hold bytes the log
        does not show yet. The log has settled when two round trips to the server in a row add
        nothing but themselves.
        """
        deadline = time.monotonic() + timeout
        before = -1
        while True:
            if self.running:
                self.stats()
            entries = self.entries()
            own = sum(1 for e in entries if e.path.startswith("/planktos/stats"))
            now = len(entries) - own
            if now == before or not self.running:
                return entries
            before = now
            assert time.monotonic() < deadline, "the access log keeps growing"


class Kind(Enum):
    """What a request was for."""

    CONTENT = "content"  # a site file at its own URL
    WEBSEED = "webseed"  # a site file's bytes through a web seed URL (the agent's WebTorrent)
    RUNTIME = "runtime"  # planktos.sw.js, planktos/*.js
    MANIFEST = "manifest"  # the manifest's top level and tables
    TORRENT = "torrent"
    TRACKER = "tracker"
    STATS = "stats"
    OTHER = "other"


@dataclass(frozen=True)
class Hit:
    """One logged request, attributed."""

    entry: ClfEntry
    kind: Kind
    key: str | None  # the site file (unencoded path relative to the base), if any

    @property
    def bytes(self) -> int:
        return self.entry.body_bytes


def attribute(entries: Iterable[ClfEntry], built: Built) -> list[Hit]:
    """Attribute logged requests to the kinds and files of ``built``."""
    seeds = built.web_seed_paths()
    keys = {unquote(k) for k in built.manifest["files"]}
    hits = []
    for entry in entries:
        split = urlsplit(entry.path)
        path = unquote(split.path)
        query = parse_qs(split.query)
        rel = path[len(built.base) :] if path.startswith(built.base) else None
        kind, key = Kind.OTHER, None
        if rel is None:
            pass
        elif path in seeds:
            kind, key = (Kind.WEBSEED, seeds[path])
            if "planktos-webseed" not in query and not rel.startswith("planktos/w/"):
                kind = Kind.CONTENT
        elif rel == "planktos.sw.js" or (rel.startswith("planktos/") and rel.endswith(".js")):
            kind = Kind.RUNTIME
        elif rel == "planktos/manifest.json" or rel.startswith("planktos/i/"):
            kind = Kind.MANIFEST  # the top level and its tables
        elif rel.startswith("planktos/t/"):
            kind = Kind.TORRENT
        elif rel == "planktos/tracker":
            kind = Kind.TRACKER
        elif rel == "planktos/stats":
            kind = Kind.STATS
        else:
            name = rel + "index.html" if rel == "" or rel.endswith("/") else rel
            if name in keys:
                kind, key = Kind.CONTENT, name
        hits.append(Hit(entry, kind, key))
    return hits


FILE_KINDS = (Kind.CONTENT, Kind.WEBSEED)


def file_bytes(hits: Iterable[Hit], kinds: tuple[Kind, ...] = FILE_KINDS) -> Counter[str]:
    """Body bytes the origin sent for each site file, through the given kinds of request."""
    out: Counter[str] = Counter()
    for hit in hits:
        if hit.kind in kinds and hit.key is not None:
            out[hit.key] += hit.bytes
    return out


def describe(hits: Iterable[Hit]) -> str:
    """The hits, one per line, for assertion messages."""
    return "\n".join(
        f"  {h.entry.method} {h.entry.path} {h.entry.status} {h.bytes} [{h.kind.value}]"
        for h in hits
    )
