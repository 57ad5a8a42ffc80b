"""Content types, shared by the manifest and the static server."""

from __future__ import annotations

import functools
import mimetypes

_OVERRIDES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".webm": "video/webm",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".torrent": "application/x-bittorrent",
    ".md": "text/markdown",
    ".map": "application/json",
    ".gz": "application/gzip",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".zst": "application/zstd",
    ".7z": "application/x-7z-compressed",
}
# Python's built-in table only: the global one also reads /etc/mime.types, which would make
# the manifest differ from machine to machine. No encodings: x.tar.gz is application/gzip.
_TABLE = mimetypes.MimeTypes()
_TABLE.encodings_map.clear()
_TEXTUAL = ("text/", "application/json", "application/javascript", "image/svg+xml")


def content_type(name: str) -> str:
    """The Content-Type for a file name, with ``charset=utf-8`` on textual types."""
    dot = name.rfind(".")
    return _by_extension(name[dot:] if dot > name.rfind("/") else "")


@functools.lru_cache(maxsize=4096)
def _by_extension(ext: str) -> str:
    # Only the extension decides (there are no encodings in the table), so a site's few
    # extensions are looked up once each rather than once per file.
    kind = _OVERRIDES.get(ext.lower()) or _TABLE.guess_type("x" + ext, strict=False)[0]
    kind = kind or "application/octet-stream"
    if kind.startswith(_TEXTUAL) and kind != "image/svg+xml":
        return kind + "; charset=utf-8"
    return kind
