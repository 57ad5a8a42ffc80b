"""``planktos build --inject``: add the install script tag to every HTML page lacking it.

The tag goes right after the opening ``<head>`` tag so that the service worker registers as
early as the page allows. Pages that already load ``planktos/install.js`` are left as they
are (injection is idempotent); pages without a ``<head>`` are left alone and reported. Bytes
are edited, not parsed and re-serialized, so nothing else in a page changes; each page is
replaced atomically (temporary file, then rename), keeping its permissions.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from planktos.errors import BuildError
from planktos.walk import SiteFile

_HEAD = re.compile(rb"<head(?:\s[^>]*)?>", re.IGNORECASE)
_EXISTING = re.compile(rb"""<script\b[^>]*\bsrc\s*=\s*["']?[^"'>\s]*planktos/install\.js""", re.I)
HTML_SUFFIXES = (".html", ".htm", ".xhtml")


@dataclass(slots=True)
class InjectReport:
    """What ``--inject`` did."""

    injected: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    no_head: list[str] = field(default_factory=list)


def script_tag(base_url: str | None) -> bytes:
    """The tag to inject: install.js under the base URL's path (same origin as the page)."""
    path = urlsplit(base_url).path if base_url else "/"
    return f'<script src="{path}planktos/install.js" async></script>'.encode()


def inject(
    files: list[SiteFile],
    base_url: str | None,
    known: Callable[[SiteFile], bool] | None = None,
    note: Callable[[SiteFile], None] | None = None,
) -> InjectReport:
    """Inject the tag into HTML files; returns which pages changed and which were skipped.

    ``known(f)`` says a page is known to load the script as it is (not read again: a rebuild
    of a large site reads no unchanged page); ``note(f)`` is told of each page found loading it.
    """
    tag = script_tag(base_url)
    report = InjectReport()
    for f in files:
        if not f.rel.lower().endswith(HTML_SUFFIXES):
            continue
        if known is not None and known(f):
            report.present.append(f.rel)
            continue
        try:
            with open(f.path, "rb") as page:
                data = page.read()
        except OSError as err:
            raise BuildError(f.rel, f"cannot be read ({err.strerror})") from err
        if _EXISTING.search(data):
            report.present.append(f.rel)
            if note is not None:
                note(f)
            continue
        head = _HEAD.search(data)
        if head is None:
            report.no_head.append(f.rel)
            continue
        _replace(f, data[: head.end()] + tag + data[head.end() :])
        report.injected.append(f.rel)
    return report


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


def _replace(f: SiteFile, data: bytes) -> None:
    real = os.path.realpath(f.path)
    fd, tmp = tempfile.mkstemp(prefix=".planktos-inject-", dir=os.path.dirname(real))
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, os.stat(real).st_mode & 0o7777)
        os.replace(tmp, real)
    except OSError as err:
        os.unlink(tmp)
        raise BuildError(
            f.rel, f"cannot be rewritten to inject the script ({err.strerror})"
        ) from err
