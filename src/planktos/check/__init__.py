"""``planktos check URL``: is a deployed Planktos site right? See :mod:`planktos.check.site`."""

from __future__ import annotations

import asyncio

from planktos.check.findings import Finding, Report
from planktos.check.site import check_site

__all__ = ["Finding", "Report", "check_site", "run_check"]


def run_check(url: str, *, pages: int, timeout_s: float, as_json: bool, strict: bool) -> int:
    """Check the site at ``url``, print the report; returns the exit status."""
    report = asyncio.run(check_site(url, pages=pages, timeout_s=timeout_s))
    print(report.json() if as_json else report.text(), flush=True)
    return report.exit_status(strict)
