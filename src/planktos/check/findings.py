"""What ``planktos check`` found: one finding per problem (or per area that passed), with the fix.

A finding is an ``error`` when something does not work as built (visitors never get the
service worker, web seeds break, the tracker refuses the site), a ``warning`` when it works
but costs (uncompressed scripts, revalidated immutable files), ``ok`` for an area checked
without a problem. Errors make the exit status non-zero; warnings too with ``--strict``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Level = Literal["ok", "warning", "error"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report: an area, a level, the URL concerned, what is wrong, the fix."""

    area: str
    level: Level
    url: str
    problem: str
    fix: str = ""

    def line(self) -> str:
        """The finding on one line: ``level  area: url: problem; fix``."""
        where = f"{self.url}: " if self.url else ""
        fix = f"; {self.fix}" if self.fix else ""
        return f"{self.level:<8}{self.area}: {where}{self.problem}{fix}"


def error(area: str, url: str, problem: str, fix: str) -> Finding:
    return Finding(area, "error", url, problem, fix)


def warning(area: str, url: str, problem: str, fix: str) -> Finding:
    return Finding(area, "warning", url, problem, fix)


def ok(area: str, url: str, what: str) -> Finding:
    return Finding(area, "ok", url, what)


@dataclass(slots=True)
class Report:
    """Every finding of one run, in the order the areas were checked."""

    url: str
    build: str | None = None
    findings: list[Finding] = field(default_factory=list)

    def add(self, findings: list[Finding], area: str, passed: str, url: str = "") -> None:
        """Add ``findings`` of ``area``, or one ``ok`` line saying what ``passed`` if none."""
        self.findings.extend(findings or [ok(area, url, passed)])

    def collapse(self) -> None:
        """Keep one finding per area, level and fix: a host without Range fails every range
        alike, and the first URL says enough (the count of the others is added)."""
        kept: dict[tuple[str, str, str], int] = {}
        more: dict[int, int] = {}
        out: list[Finding] = []
        for f in self.findings:
            key = (f.area, f.level, f.fix or f.problem)
            if f.level != "ok" and key in kept:
                more[kept[key]] = more.get(kept[key], 0) + 1
                continue
            kept[key] = len(out)
            out.append(f)
        for i, n in more.items():
            f = out[i]
            also = f" (and {n} more like it)"
            out[i] = Finding(f.area, f.level, f.url, f.problem + also, f.fix)
        self.findings = out

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.level == "warning")

    def exit_status(self, strict: bool = False) -> int:
        """1 on an error (or, with ``strict``, a warning), else 0."""
        return 1 if self.errors or (strict and self.warnings) else 0

    def text(self) -> str:
        """The report for a terminal: a heading, a line per finding, a count."""
        head = f"planktos check {self.url}" + (f" (build {self.build})" if self.build else "")
        lines = [head, *(f.line() for f in self.findings)]
        lines.append(f"{_count(self.errors, 'error')}, {_count(self.warnings, 'warning')}")
        return "\n".join(lines)

    def json(self) -> str:
        """The report as JSON: ``url``, ``build``, ``errors``, ``warnings``, ``findings``."""
        return json.dumps(
            {
                "url": self.url,
                "build": self.build,
                "errors": self.errors,
                "warnings": self.warnings,
                "findings": [asdict(f) for f in self.findings],
            },
            indent=2,
        )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
