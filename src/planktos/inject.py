"""``planktos build --inject``: add the install script tag to every HTML page lacking it.

The tag goes right after the opening ``<head>`` tag so that the service worker registers as
early as the page allows. Pages that already load ``planktos/install.js`` are left as they
are (injection is idempotent); pages without a ``<head>`` are left alone and reported. Bytes
are edited, not parsed and re-serialized, so nothing else in a page changes. Each new page is
written to a temporary dot-file beside it, keeping its permissions; the build hashes that file
and renames it onto the page only when its output commits, so a failed build leaves every page
as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from planktos.errors import BuildError, advice
from planktos.walk import SiteFile

_HEAD = re.compile(rb"<head(?:\s[^>]*)?>", re.IGNORECASE)
_EXISTING = re.compile(rb"""<script\b[^>]*\bsrc\s*=\s*["']?[^"'>\s]*planktos/install\.js""", re.I)
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
INJECT_PREFIX = ".planktos-inject-"  # a rewritten page (or its backup) before the commit
PRESENT, NO_HEAD = "p", "n"  # what a build found in a page, remembered for the next one


@dataclass(slots=True)
class InjectReport:
    """What ``--inject`` did."""

    injected: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    no_head: list[str] = field(default_factory=list)
    staged: dict[str, str] = field(default_factory=dict)  # page's real path -> its new bytes' file

    def discard(self) -> None:
        """Delete the rewritten pages that were not committed."""
        for tmp in self.staged.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def script_tag(base_url: str | None) -> bytes:
    """The tag to inject: install.js under the base URL's path (same origin as the page)."""
    path = urlsplit(base_url).path if base_url else "/"
    return f'<script src="{path}planktos/install.js" async></script>'.encode()


def inject(
    files: list[SiteFile], base_url: str | None, known: Mapping[str, str] | None = None
) -> InjectReport:
    """Write each HTML file with the tag to a temporary file beside it (``staged``); returns
    which pages change and which were skipped. On an error, nothing is left behind.

    ``known`` maps the path of a page unchanged since the last build to what that build
    found: ``PRESENT``, it loads the script; ``NO_HEAD``, it has no ``<head>``. Such pages are not
    read again: a rebuild of a large site reads no unchanged page.
    """
    tag = script_tag(base_url)
    report = InjectReport()
    try:
        _inject(files, tag, report, known or {})
    except BaseException:
        report.discard()
        raise
    return report


def _inject(
    files: list[SiteFile], tag: bytes, report: InjectReport, known: Mapping[str, str]
) -> None:
    status_of = known.get
    for f in files:
        rel = f.rel
        if not rel.endswith(HTML_SUFFIXES) and not rel.lower().endswith(HTML_SUFFIXES):
            continue
        status = status_of(rel)
        if status == PRESENT:
            report.present.append(rel)
            continue
        if status == NO_HEAD:
            report.no_head.append(rel)
            continue
        try:
            with open(f.path, "rb") as page:
                data = page.read()
        except OSError as err:
            raise BuildError(f.rel, f"cannot be read ({err.strerror})") from err
        if _EXISTING.search(data):
            report.present.append(f.rel)
            continue
        head = _HEAD.search(data)
        if head is None:
            report.no_head.append(f.rel)
            continue
        real = os.path.realpath(f.path)
        if real not in report.staged:  # not another name (a symlink) of a page done already
            report.staged[real] = _stage(f, real, data[: head.end()] + tag + data[head.end() :])
        report.injected.append(f.rel)


def loads_install_script(files: list[SiteFile]) -> bool | None:
    """Whether some HTML page among ``files`` loads ``planktos/install.js`` (None: no page).

    Reads pages until the first that does, so a site that has the tag costs a page or two.
    """
    pages = [f for f in files if f.rel.lower().endswith(HTML_SUFFIXES)]
    for f in pages:
        try:
            with open(f.path, "rb") as page:
                if _EXISTING.search(page.read()):
                    return True
        except OSError as err:
            raise BuildError(f.rel, f"cannot be read ({err.strerror})") from err
    return False if pages else None


def _stage(f: SiteFile, real: str, data: bytes) -> str:
    """Write ``data`` to a new dot-file beside the page at ``real``, with its permissions."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=INJECT_PREFIX, dir=os.path.dirname(real))
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, os.stat(real).st_mode & 0o7777)
    except BaseException as err:
        if tmp is not None:
            os.unlink(tmp)
        if not isinstance(err, OSError):
            raise
        raise BuildError(
            f.rel,
            f"cannot be rewritten to inject the script ({err.strerror}); {advice(err)}"
            " and build again",
        ) from err
    return tmp
