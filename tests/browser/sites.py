"""The site the browser tests visit: pages whose every byte can be checked, built for real.

Pages reference their files with relative URLs, so the same tree works at the root of an
origin and under a ``--base-url`` sub-path. Every script and style sheet carries a token the
page exposes once it has run (``self.planktosTest[key]`` for scripts, a CSS custom property
for style sheets), images are real PNGs of a known size, and the "video" is a real WAV file
(PCM, so Chromium seeks in it by byte offset) of about 3 MB: a single-file shard with
chunked verification.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from planktos.bencode import decode
from planktos.manifest import read_full

RANGE_SIZES = (0, 1, 16383, 16384, 16385)
VIDEO = "media/clip.wav"
VIDEO_RATE = 8000  # samples per second, 16-bit mono: 16,000 bytes per second
VIDEO_SIZE = 3_000_044
WAV_HEADER = 44
AWKWARD = ("files/100% café #1.txt", "files/a b+c=d.txt", "files/why?.txt")
LATE = "late/late.txt"
BLOG_POSTS = 40


def pattern(size: int) -> bytes:
    """``size`` bytes with period 251 (never aligned with powers of two), as test_static uses."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


def noise(size: int, seed: str) -> bytes:
    """Deterministic incompressible bytes."""
    return random.Random(seed).randbytes(size)


def padding(size: int, seed: str) -> str:
    """Deterministic printable text of ``size`` characters (base64 of noise)."""
    return base64.b64encode(noise(size, seed)).decode()[:size]


def png(width: int, height: int, seed: str) -> bytes:
    """A valid RGB PNG of random pixels: decodes to exactly ``width`` x ``height``."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data)
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rng = random.Random(seed)
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def wav(size: int, seed: str) -> bytes:
    """A valid 16-bit mono PCM WAV file of exactly ``size`` bytes (noise)."""
    data = size - WAV_HEADER
    assert data > 0 and data % 2 == 0
    header = (
        b"RIFF"
        + struct.pack("<I", size - 8)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, VIDEO_RATE, VIDEO_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )
    return header + noise(data, seed)


def script(key: str, token: str, size: int) -> bytes:
    """A script that records ``token`` under ``key`` when it runs, padded to ``size`` bytes."""
    head = f'(self.planktosTest ??= {{}})["{key}"] = "{token}";\n/* '
    tail = " */\n"
    return (head + padding(size - len(head) - len(tail), key) + tail).encode()


def style(var: str, token: str, size: int) -> bytes:
    """A style sheet that sets the custom property ``var`` to ``token``, padded to ``size``."""
    head = f':root {{ {var}: "{token}"; }}\n/* '
    tail = " */\n"
    return (head + padding(size - len(head) - len(tail), var) + tail).encode()


def token(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Page:
    """A test page: its manifest key and the files it loads, with what proves each arrived."""

    key: str
    css: str
    js: str
    img: str
    img_size: tuple[int, int]

    @property
    def url(self) -> str:
        """The page's URL relative to the base (its directory, ``dir/``)."""
        return self.key.removesuffix("index.html")

    @property
    def files(self) -> tuple[str, ...]:
        """The files the page loads besides its HTML."""
        return (self.css, self.js, self.img)

    @property
    def css_var(self) -> str:
        return "--planktos-test-" + self.css.rsplit("/", 1)[-1].split(".")[0]


PAGES = (
    Page("a/index.html", "css/a.css", "js/a.js", "img/a.png", (130, 110)),
    Page("b/index.html", "css/b.css", "js/b.js", "img/b.png", (90, 150)),
)
PAGE_A, PAGE_B = PAGES


# Every page names its icon inline: Chromium would otherwise ask for /favicon.ico, and the
# 404 is a console error.
HEAD = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">'


def page_html(page: Page) -> str:
    return (
        HEAD + "<title>" + page.key + "</title>\n"
        '<script src="../planktos/install.js" async></script>\n'
        f'<link rel="stylesheet" href="../{page.css}">\n'
        f'<script src="../{page.js}" defer></script>\n'
        f'<h1>{page.key}</h1><img src="../{page.img}" alt="">\n'
    )


LANDING_HTML = (
    HEAD + "<title>home</title>\n"
    '<script src="planktos/install.js" async></script>\n'
    '<h1>home</h1><a href="a/">a</a> <a href="b/">b</a> <a href="video/">video</a>\n'
)
VIDEO_HTML = (
    HEAD + "<title>video</title>\n"
    '<script src="../planktos/install.js" async></script>\n'
    f'<video id="video" preload="metadata" src="../{VIDEO}"></video>\n'
)


def site_files() -> dict[str, bytes]:
    """Every file of the test site, by path relative to its root."""
    files: dict[str, bytes] = {
        "index.html": LANDING_HTML.encode(),
        "video/index.html": VIDEO_HTML.encode(),
        VIDEO: wav(VIDEO_SIZE, VIDEO),
        LATE: b"late, version 1\n" + noise(3000, LATE),
    }
    for i, page in enumerate(PAGES):
        files[page.key] = page_html(page).encode()
        files[page.css] = style(page.css_var, token(page.css), 20_000 + 3_001 * i)
        files[page.js] = script(page.js, token(page.js), 30_000 + 5_003 * i)
        files[page.img] = png(*page.img_size, seed=page.img)
    for n in RANGE_SIZES:
        files[f"data/size-{n}.bin"] = pattern(n)
    for name in AWKWARD:
        files[name] = f"awkward name: {name}\n".encode()
    for i in range(BLOG_POSTS):
        body = f"{HEAD}<title>post {i}</title><p>{padding(4_000 + 397 * i, str(i))}</p>"
        files[f"blog/post-{i:02}.html"] = body.encode()
    return files


LONG_VIDEO = "media/long.wav"
LONG_VIDEO_SIZE = 12_000_044  # 750 s: Chromium's first read-ahead stops well before its end
LONG_VIDEO_PAGE = "long/index.html"


def add_long_video(root: Path) -> None:
    """Add a 12 MB WAV and its page: a 3 MB one is read whole with preload="metadata"."""
    (root / "media").mkdir(parents=True, exist_ok=True)
    (root / LONG_VIDEO).write_bytes(wav(LONG_VIDEO_SIZE, LONG_VIDEO))
    (root / "long").mkdir(exist_ok=True)
    (root / LONG_VIDEO_PAGE).write_text(VIDEO_HTML.replace(VIDEO, LONG_VIDEO), encoding="utf-8")


def write_site(root: Path) -> dict[str, bytes]:
    """Write the test site under ``root``; returns its files."""
    files = site_files()
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def replace_file(path: Path, data: bytes) -> None:
    """Give ``path`` new bytes under a new inode, as editors and deploy tools do.

    Hard links the build made (web seed trees) keep the old bytes.
    """
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    tmp.replace(path)


# Scripts a test runs first in its site's service worker (the IndexedDB stand-in, Firefox's
# error hooks), by site root: :func:`planktos_build` puts them back after every build.
WORKER_PRELUDES: dict[Path, str] = {}


def add_worker_prelude(root: Path, js: str) -> None:
    """Run ``js`` first in the service worker of the site at ``root`` (and of any site built
    under it), now and after every later :func:`planktos_build` of it."""
    WORKER_PRELUDES[root.resolve()] = WORKER_PRELUDES.get(root.resolve(), "") + js
    prepend_preludes(root)


def prepend_preludes(root: Path) -> None:
    """Put the registered preludes at the start of the site's worker script, after its build
    mark (which ``planktos check`` looks for first); its .gz copy is made again and its .br
    copy dropped (no brotli here), so a server still sends it compressed."""
    worker = root / "planktos.sw.js"
    here = root.resolve()
    js = "".join(v for k, v in WORKER_PRELUDES.items() if k == here or k in here.parents)
    if not js or not worker.exists():
        return
    text = worker.read_text(encoding="utf-8")
    first, newline, rest = text.partition("\n")
    head, body = (first + newline, rest) if first.startswith("/*PLANKTOS_BUILD=") else ("", text)
    if body.startswith(js):
        return
    data = (head + js + body).encode()
    worker.write_bytes(data)
    worker.with_name(worker.name + ".br").unlink(missing_ok=True)
    packed = worker.with_name(worker.name + ".gz")
    if packed.exists():
        packed.write_bytes(gzip.compress(data, 9))


def planktos_build(root: Path, *args: str) -> str:
    """Run ``planktos build --root ROOT ARGS``; returns its output (fails the test on error).
    The worker preludes registered for ``root`` are put back into the new worker script."""
    proc = subprocess.run(
        [sys.executable, "-m", "planktos", "build", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prepend_preludes(root)
    return proc.stdout + proc.stderr


@dataclass(frozen=True)
class Built:
    """A built site as the server sees it: manifest, and which URL path holds which file."""

    root: Path
    base: str  # URL path of the site root on the server, e.g. "/" or "/sub/"
    manifest: dict[str, Any]

    @classmethod
    def load(cls, root: Path, base: str = "/") -> Built:
        return cls(root, base, read_full(root / "planktos" / "manifest.json"))

    @property
    def build_id(self) -> str:
        return str(self.manifest["build"])

    def entry(self, key: str) -> dict[str, Any]:
        """The manifest entry of a file, by its unencoded relative path."""
        return dict(self.manifest["files"][quote(key, safe="/")])

    def boundary(self, keys: Iterable[str]) -> int:
        """The most the origin may send for ``keys`` once they are stored: the two pieces each
        may share with its neighbours, which the worker assembles (from ranges of the
        neighbours) for the agent to seed."""
        return sum(2 * self.shard(k)["piece_length"] for k in keys)

    def shard(self, key: str) -> dict[str, Any]:
        return dict(self.manifest["shards"][self.entry(key)["shard"]])

    def url_path(self, key: str) -> str:
        """The percent-encoded URL path of a file on the server."""
        return self.base + quote(key, safe="/")

    def web_seed_paths(self) -> dict[str, str]:
        """URL path (decoded) of every web seed file → the file's unencoded relative path."""
        out: dict[str, str] = {}
        for shard_id, shard in self.manifest["shards"].items():
            keys = {
                entry["index"]: unquote(key)
                for key, entry in self.manifest["files"].items()
                if entry.get("shard") == shard_id  # empty files have no shard
            }
            webseed = self.base + unquote(shard["webseed"])
            torrent = decode((self.root / unquote(shard["torrent"])).read_bytes())
            assert isinstance(torrent, dict) and isinstance(torrent[b"info"], dict)
            files = torrent[b"info"].get(b"files")
            if files is None:  # single-file torrent: the web seed is the file itself
                out[webseed] = keys[0]
                continue
            assert isinstance(files, list)
            for index, item in enumerate(files):
                assert isinstance(item, dict) and isinstance(item[b"path"], list)
                parts = [p.decode() for p in item[b"path"] if isinstance(p, bytes)]
                out[webseed.rstrip("/") + "/" + shard_id + "/" + "/".join(parts)] = keys[index]
        return out


def drop_precompressed(path: Path) -> None:
    """Delete the .br/.gz copies of a built file a test edited: the server would send them."""
    for suffix in (".br", ".gz"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


# The bundled example site (examples/site): what its gallery page shows and its video page plays.
EXAMPLE_GALLERY = (
    "images/diatoms.jpg",
    "images/copepods.png",
    "images/bloom.jpg",
    "images/radiolaria.png",
    "images/mandelbrot-frame.png",
    "images/plankton.svg",
)
EXAMPLE_VIDEO = "media/mandelbrot-zoom.webm"
