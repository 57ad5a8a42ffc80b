"""The SQLite store of aggregates (stdlib ``sqlite3``, WAL), kept across restarts.

One table of buckets keyed by ``(start, width)``; writes add into a row (an upsert), so
several writers, and a write after a restart, only ever add. Minute rows older than
``KEEP_MINUTES_S`` are rolled up into hour rows. Not thread-safe: the web adapter runs every
call on one worker thread. No address, user agent or visitor id is ever stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from planktos.errors import PlanktosError
from planktos.stats.buckets import COLUMNS, COUNTS, GAUGES, HOUR, MINUTE, Bucket

SCHEMA_VERSION = 1
KEEP_MINUTES_S = 48 * HOUR  # minute resolution this long, hours after
LEGACY_NAME = "planktos-stats.sqlite3"
"""The default name before it was made per site: sibling sites shared one database."""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (
  start INTEGER NOT NULL, width INTEGER NOT NULL,
  {", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in COLUMNS[2:])},
  PRIMARY KEY (start, width)
) WITHOUT ROWID;
"""
_MERGE = ", ".join(
    [f"{c} = {c} + excluded.{c}" for c in COUNTS]
    + [f"{c} = max({c}, excluded.{c})" for c in GAUGES]
)
_UPSERT = (
    f"INSERT INTO buckets ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    f"ON CONFLICT (start, width) DO UPDATE SET {_MERGE}"
)
_ROLLUP = (
    f"INSERT INTO buckets ({', '.join(COLUMNS)}) "
    f"SELECT start / {HOUR} * {HOUR}, {HOUR}, "
    + ", ".join([f"sum({c})" for c in COUNTS] + [f"max({c})" for c in GAUGES])
    + f" FROM buckets WHERE width = {MINUTE} AND start < ? GROUP BY start / {HOUR} "
    f"ON CONFLICT (start, width) DO UPDATE SET {_MERGE}"
)


class StatsDbError(PlanktosError):
    """The stats database is missing, unreadable, or not ours."""


class StatsDb:
    """Aggregates in the SQLite file at ``path`` (created unless ``create`` is false)."""

    def __init__(self, path: Path | str, *, create: bool = True, readonly: bool = False) -> None:
        self.path = path
        if not create and path != ":memory:" and not Path(path).is_file():
            raise StatsDbError(
                path, "no stats database here; pass the --stats-db that planktos serve printed"
            )
        try:
            if readonly:
                uri = Path(path).resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            else:
                self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._check_ours()
            if not readonly:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                with self._db:
                    self._db.executescript(_SCHEMA)
                    self._db.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                    )
            self._check_schema()
        except sqlite3.Error as err:
            raise StatsDbError(
                path,
                f"not a Planktos stats database ({err}); move it away or pass another --stats-db",
            ) from err

    def _check_ours(self) -> None:
        """Refuse, before changing anything, a database whose tables another program made."""
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        tables = sorted(str(row[0]) for row in rows)
        if not tables:
            return  # a new file, or an empty database: ours to set up
        ours = (
            "meta" in tables
            and self._db.execute("SELECT 1 FROM meta WHERE key = 'schema'").fetchone()
        )
        if not ours:
            self._db.close()
            shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
            raise StatsDbError(
                self.path,
                f"is another program's database (tables: {shown}), not a Planktos stats "
                "database; left untouched, pass another --stats-db",
            )

    def _check_schema(self) -> None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.Error as err:
            raise StatsDbError(
                self.path, f"not a Planktos stats database ({err}); pass another --stats-db"
            ) from err
        if row is None or row[0] != str(SCHEMA_VERSION):
            found = "none" if row is None else row[0]
            raise StatsDbError(
                self.path, f"stats schema {found}, this planktos reads {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self._db.close()

    def add(self, buckets: Iterable[Bucket]) -> None:
        """Add ``buckets`` into their rows, in one transaction."""
        with self._db:
            self._db.executemany(_UPSERT, [b.values() for b in buckets])

    def roll_up(self, before: int) -> int:
        """Fold minute rows that start before ``before`` into hour rows; returns rows folded."""
        before = before // HOUR * HOUR  # whole hours only, so an hour is folded once
        with self._db:
            self._db.execute(_ROLLUP, (before,))
            cur = self._db.execute(
                "DELETE FROM buckets WHERE width = ? AND start < ?", (MINUTE, before)
            )
        return cur.rowcount

    def buckets(self, since: int = 0, until: int | None = None) -> list[Bucket]:
        """Rows starting in ``[since, until)``, in time order."""
        query = f"SELECT {', '.join(COLUMNS)} FROM buckets WHERE start >= ?"
        args: list[int] = [since]
        if until is not None:
            query += " AND start < ?"
            args.append(until)
        try:
            rows = self._db.execute(query + " ORDER BY start, width", args).fetchall()
        except sqlite3.Error as err:
            raise StatsDbError(self.path, f"cannot read the stats database ({err})") from err
        return [Bucket(*row) for row in rows]

    def totals(self) -> tuple[Bucket, int | None]:
        """Every row summed, and the start of the first row (None when empty)."""
        sums = ", ".join(
            [f"coalesce(sum({c}), 0)" for c in COUNTS] + [f"coalesce(max({c}), 0)" for c in GAUGES]
        )
        try:
            row = self._db.execute(f"SELECT min(start), {sums} FROM buckets").fetchone()
        except sqlite3.Error as err:
            raise StatsDbError(self.path, f"cannot read the stats database ({err})") from err
        first = row[0]
        out = Bucket(first or 0, 0)
        for name, value in zip((*COUNTS, *GAUGES), row[1:], strict=True):
            setattr(out, name, value)
        return out, first


def default_db_path(site: Path, access_log: Path | None) -> Path:
    """Where ``planktos serve`` keeps aggregates without ``--stats-db``: next to the access
    log, else beside (never inside: it would be served) the site's directory.

    The name is the site's own (its directory name and a hash of its full path), so that
    sites served side by side, or logging to one directory, never share a database.
    """
    resolved = site.resolve()
    where = access_log.resolve().parent if access_log else resolved.parent
    return where / default_db_name(resolved)


def default_db_name(resolved_site: Path) -> str:
    """``planktos-stats-<site directory name>-<8 hex digits of its path>.sqlite3``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", resolved_site.name)[:40] or "root"
    digest = hashlib.sha256(os.fsencode(resolved_site)).hexdigest()[:8]
    return f"planktos-stats-{name}-{digest}.sqlite3"


def check_outside(db: Path, site: Path) -> None:
    """Refuse a database inside the served directory, where anyone could download it."""
    if db.resolve().is_relative_to(site.resolve()):
        raise StatsDbError(
            db, "lies inside the served site, which would publish it; pick a path outside it"
        )
