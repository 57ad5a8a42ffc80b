"""Pure judgments of what a deployed site answered: each takes a response's parts and returns
the findings (:mod:`planktos.check.findings`); the network stays in :mod:`planktos.check.probe`.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from planktos.check.findings import Finding, error, warning
from planktos.errors import InputError

# Types browsers run as scripts (WHATWG MIME Sniffing, "JavaScript MIME type essence match").
JS_TYPES = frozenset(
    f"{top}/{sub}"
    for top, subs in (
        ("application", ("ecmascript", "javascript", "x-ecmascript", "x-javascript")),
        (
            "text",
            (
                "ecmascript",
                "javascript",
                "javascript1.0",
                "javascript1.1",
                "javascript1.2",
                "javascript1.3",
                "javascript1.4",
                "javascript1.5",
                "jscript",
                "livescript",
                "x-ecmascript",
                "x-javascript",
            ),
        ),
    )
    for sub in subs
)
LONG_CACHE_S = 7 * 86400  # an "immutable" file cached for less than a week is revalidated often
SHORT_CACHE_S = 60  # a no-cache file cached for a minute at most is still fine
MIN_COMPRESS_BYTES = 1024
_INSTALL_SRC = re.compile(
    r"""<script\b[^>]*?\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE
)

HOST_HINT = "see the README's nginx and Caddy examples"


def check_site_url(value: str) -> str:
    """Validate the URL given to ``planktos check``: an http(s) URL of the site's root (or of
    its manifest); returns the site's base URL, ending in ``/``."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(value, "invalid URL; give the site's http(s) URL, e.g. https://x.org/")
    if parts.query or parts.fragment:
        raise InputError(value, "invalid URL; give the site's URL without ?query or #fragment")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InputError(value, "invalid port in the URL") from None
    path = parts.path or "/"
    path = path.removesuffix("planktos/manifest.json")
    if not path.endswith("/"):
        path += "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


def is_local(url: str) -> bool:
    """Whether browsers treat ``url``'s host as potentially trustworthy without HTTPS."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.endswith(".localhost") or host.startswith("127.")


def directives(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``Cache-Control`` directives, names lower-cased (``max-age`` → its value)."""
    out: dict[str, str] = {}
    for item in headers.get("Cache-Control", "").split(","):
        name, _, value = item.strip().partition("=")
        if name:
            out[name.strip().lower()] = value.strip().strip('"')
    return out


def _max_age(found: dict[str, str]) -> int | None:
    try:
        return int(found["max-age"]) if "max-age" in found else None
    except ValueError:
        return None


def revalidated_problems(area: str, url: str, headers: Mapping[str, str]) -> list[Finding]:
    """A file every visit must revalidate (service worker, manifest, install.js)."""
    found = directives(headers)
    if "no-cache" in found or "no-store" in found:
        return []
    age = _max_age(found)
    if age is not None and age <= SHORT_CACHE_S:
        return []
    said = headers.get("Cache-Control")
    what = f"Cache-Control is {said!r}" if said else "no Cache-Control"
    return [
        error(
            area,
            url,
            f"{what}: browsers may keep an old copy and miss the next build",
            f"serve it with Cache-Control: no-cache ({HOST_HINT})",
        )
    ]


def immutable_problems(area: str, url: str, headers: Mapping[str, str]) -> list[Finding]:
    """A content-addressed file (torrent, table, the agent): should be cached for long."""
    found = directives(headers)
    age = _max_age(found)
    if "no-store" not in found and "no-cache" not in found and (age or 0) >= LONG_CACHE_S:
        return []
    said = headers.get("Cache-Control")
    what = f"Cache-Control is {said!r}" if said else "no Cache-Control"
    return [
        warning(
            area,
            url,
            f"{what} on a file named by its content: visitors revalidate it for nothing",
            f'serve it with Cache-Control: "public, max-age=31536000, immutable" ({HOST_HINT})',
        )
    ]


def essence(headers: Mapping[str, str]) -> str:
    """The media type of ``Content-Type``, lower-cased, without parameters."""
    return headers.get("Content-Type", "").partition(";")[0].strip().lower()


def script_type_problems(area: str, url: str, headers: Mapping[str, str]) -> list[Finding]:
    """A script browsers must run (the worker refuses to register, the agent to import, else)."""
    if essence(headers) in JS_TYPES:
        return []
    said = headers.get("Content-Type")
    return [
        error(
            area,
            url,
            f"Content-Type is {said!r}, not a JavaScript type: browsers refuse to run it"
            if said
            else "no Content-Type: browsers refuse to run it as a script",
            "serve .js files as text/javascript (nginx: include mime.types)",
        )
    ]


def compression_problems(
    area: str, url: str, body: bytes, headers: Mapping[str, str]
) -> list[Finding]:
    """``headers`` answered a request accepting ``br, gzip`` for a file whose identity bytes are
    ``body``: a coding where it pays (gzip saves a tenth), and ``Vary: Accept-Encoding``."""
    coding = headers.get("Content-Encoding", "").strip().lower()
    if coding and coding != "identity":
        vary = {v.strip().lower() for v in headers.get("Vary", "").split(",")}
        if "accept-encoding" in vary or "*" in vary:
            return []
        return [
            warning(
                area,
                url,
                f"Content-Encoding {coding} without Vary: Accept-Encoding: a shared cache may "
                "send compressed bytes to a client that cannot read them",
                "add Vary: Accept-Encoding (nginx: gzip_vary on)",
            )
        ]
    if len(body) < MIN_COMPRESS_BYTES:
        return []
    packed = len(gzip.compress(body, 6))
    if packed > 0.9 * len(body):
        return []
    return [
        warning(
            area,
            url,
            f"sent uncompressed ({_kb(len(body))}; {_kb(packed)} with gzip)",
            "serve the precompressed .br/.gz copies the build wrote (nginx: gzip_static on, "
            "brotli_static on; Caddy: precompressed br gzip)",
        )
    ]


def _kb(n: int) -> str:
    return f"{n / 1000:.1f} kB"


@dataclass(frozen=True, slots=True)
class RangeAnswer:
    """What a server answered to ``Range: bytes=start-end`` on a file of ``total`` bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def range_problems(
    area: str, url: str, start: int, end: int, total: int, answer: RangeAnswer
) -> list[Finding]:
    """RFC 9110 §14: 206 with exactly ``Content-Range: bytes start-end/total`` and those bytes."""
    asked = f"Range: bytes={start}-{end}"
    want = f"bytes {start}-{end}/{total}"
    if answer.status == 200:
        return [
            error(
                area,
                url,
                f"answered {asked} with 200 and the whole file: no Range support, so "
                "web seeds and the service worker's partial fetches download whole files",
                "serve the site from a host that answers Range with 206 (nginx, Caddy, "
                "planktos serve; python3 -m http.server does not)",
            )
        ]
    if answer.status != 206:
        return [
            error(
                area,
                url,
                f"answered {asked} with {answer.status}, not 206",
                "deploy the whole planktos/ directory with the site, and serve it with Range",
            )
        ]
    got = " ".join(answer.headers.get("Content-Range", "").split())
    if got != want:
        return [
            error(
                area,
                url,
                f"answered {asked} with Content-Range {got!r}, not {want!r}",
                "serve the file unchanged (no transformation or re-compression of ranges), "
                "and deploy the current build's files",
            )
        ]
    if len(answer.body) != end - start + 1:
        return [
            error(
                area,
                url,
                f"answered {asked} with {len(answer.body)} bytes, not {end - start + 1}",
                "serve the file unchanged (no transformation or re-compression of ranges)",
            )
        ]
    return []


def install_sources(html: str, page_url: str) -> list[str]:
    """The absolute URLs of the ``planktos/install.js`` scripts a page loads."""
    found = []
    for match in _INSTALL_SRC.finditer(html):
        src = next(g for g in match.groups() if g is not None)
        if src.split("?", 1)[0].endswith("planktos/install.js"):
            found.append(urljoin(page_url, src))
    return found


def base_path(url: str) -> str:
    """The path of a site URL."""
    return urlsplit(url).path or "/"


def base_problems(manifest_base: object, site_url: str, manifest_url: str) -> list[Finding]:
    """The build's ``--base-url`` against where the site is served."""
    path = base_path(site_url)
    fix_path = f"rebuild with --base-url {path} (or {site_url})"
    if manifest_base is None:
        if path == "/":
            return []
        return [
            error(
                "base-url",
                manifest_url,
                f"built for the root of its origin but served at {path}: pages load "
                "/planktos/install.js, which is not this site's",
                fix_path,
            )
        ]
    if not isinstance(manifest_base, str):
        return [error("base-url", manifest_url, "base is not a string", "run planktos build")]
    built = urljoin(site_url, manifest_base)
    if built == site_url:
        return []
    if manifest_base.startswith(("http://", "https://")) and base_path(built) == path:
        return [
            error(
                "base-url",
                manifest_url,
                f"built with --base-url {manifest_base}, served at {site_url}: torrents name "
                "web seeds and trackers on another origin",
                f"rebuild with --base-url {site_url}, or check the site at {manifest_base}",
            )
        ]
    return [
        error(
            "base-url",
            manifest_url,
            f"built with --base-url {manifest_base}, served at {site_url}",
            f"{fix_path}, or serve it at {built}",
        )
    ]


def tracker_url(tracker: str, site_url: str) -> str:
    """A manifest's tracker (a ws(s) URL or a path relative to the base) as a ws(s) URL."""
    if tracker.startswith(("ws://", "wss://")):
        return tracker
    absolute = urljoin(site_url, tracker)
    return "ws" + absolute.removeprefix("http")
