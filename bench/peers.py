"""The torrent creators ``planktos build`` is compared with, and a check of what they wrote.

Each peer makes one BitTorrent v1 torrent of the whole tree at one piece length, with its
fastest honest settings (see ``settings``). A run only counts once its torrent has been read
back: piece length, file count, total length, piece count, and the SHA-1 of the first and
last pieces against the tree's bytes, so a tool that silently wrote nothing or garbage cannot
win.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planktos.bencode import decode

HERE = Path(__file__).resolve().parent
CREATE_TORRENT = HERE.parent / "node_modules" / "create-torrent"
# Written into the torrents only, never contacted. HTTP: transmission-create refuses ws://
# (and exits 0 without writing anything).
ANNOUNCE = "http://127.0.0.1:8000/announce"


class ToolError(Exception):
    """A tool is missing, failed, or wrote a torrent that does not match the tree."""


@dataclass(frozen=True)
class Peer:
    """A torrent creator: how to find its version and how to run it."""

    name: str
    settings: str
    version: Callable[[], str]  # raises ToolError when the tool is not installed
    command: Callable[[Path, Path, int], list[str]]  # (tree, torrent to write, piece length)


def _run_version(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        raise ToolError(f"{cmd[0]} not found: install it with `make bench-deps`")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return (proc.stdout + proc.stderr).strip().splitlines()[0]


def _mktorrent_version() -> str:
    # `mktorrent -h` prints "mktorrent 1.1 (c) 2007, ..." first.
    return " ".join(_run_version(["mktorrent", "-h"]).split()[:2])


def _transmission_version() -> str:
    return _run_version(["transmission-create", "-V"])


def _libtorrent_version() -> str:
    if importlib.util.find_spec("libtorrent") is None:
        raise ToolError("libtorrent not importable: `make setup` installs it from PyPI")
    import libtorrent

    return f"libtorrent {libtorrent.__version__} (PyPI)"


def _create_torrent_version() -> str:
    if shutil.which("node") is None or not (CREATE_TORRENT / "package.json").exists():
        raise ToolError("create-torrent (npm) not installed: run `make runtime`")
    version = json.loads((CREATE_TORRENT / "package.json").read_text())["version"]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return f"create-torrent {version} (npm), Node {node}"


PEERS = [
    Peer(
        "mktorrent",
        "`-t 2`: two hashing threads, one per core",
        _mktorrent_version,
        lambda tree, out, pl: [
            "mktorrent",
            "-t",
            "2",
            "-l",
            str(pl.bit_length() - 1),
            "-d",
            "-a",
            ANNOUNCE,
            "-o",
            str(out),
            str(tree),
        ],
    ),
    Peer(
        "transmission-create",
        "defaults; hashes on one thread (it has no thread option); its CLI waits for the "
        "hashing in 0.5 s steps (0.5 s for a 1 KB file)",
        _transmission_version,
        lambda tree, out, pl: [
            "transmission-create",
            "-s",
            str(pl // 1024),
            "-t",
            ANNOUNCE,
            "-o",
            str(out),
            str(tree),
        ],
    ),
    Peer(
        "libtorrent",
        "`create_torrent` v1 only, `set_piece_hashes` with its default settings "
        "(the Python binding takes none)",
        _libtorrent_version,
        lambda tree, out, pl: [
            sys.executable,
            str(HERE / "libtorrent_create.py"),
            str(tree),
            str(out),
            str(pl),
        ],
    ),
    Peer(
        "create-torrent",
        "its CLI with `--pieceLength`; hashes on Node's main thread (no option)",
        _create_torrent_version,
        lambda tree, out, pl: [
            "node",
            str(CREATE_TORRENT / "bin" / "cmd.js"),
            str(tree),
            "-o",
            str(out),
            "--pieceLength",
            str(pl),
            "--announce",
            ANNOUNCE,
        ],
    ),
]


def _is_pad(entry: dict[bytes, Any]) -> bool:
    """BEP 47 padding files (which libtorrent may insert) hold zeros that are not on disk."""
    return b"p" in entry.get(b"attr", b"") or b".pad" in entry[b"path"][:1]


def _read_span(files: list[tuple[Path | None, int]], start: int, end: int) -> bytes:
    """Bytes ``start:end`` of the torrent's concatenated files (None: a padding file)."""
    out = bytearray()
    offset = 0
    for path, length in files:
        lo, hi = max(start, offset), min(end, offset + length)
        if lo < hi:
            if path is None:
                out += bytes(hi - lo)
            else:
                with path.open("rb") as f:
                    f.seek(lo - offset)
                    out += f.read(hi - lo)
        offset += length
        if offset >= end:
            break
    return bytes(out)


def check_torrent(torrent: Path, tree: Path, files: int, total: int, piece_length: int) -> None:
    """Raise ToolError unless ``torrent`` describes ``tree`` (``files`` files, ``total`` bytes)."""
    try:
        meta: Any = decode(torrent.read_bytes())  # checked field by field below
        info = meta[b"info"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ToolError(f"{torrent.name}: no readable torrent ({err})") from err
    if info[b"piece length"] != piece_length:
        raise ToolError(f"{torrent.name}: piece length {info[b'piece length']}, not {piece_length}")
    entries: list[tuple[Path | None, int]] = []
    for entry in info.get(b"files", []):
        rel = Path(*(p.decode() for p in entry[b"path"]))
        entries.append((None if _is_pad(entry) else tree / rel, entry[b"length"]))
    real = [(p, n) for p, n in entries if p is not None and n > 0]
    if len(real) != files or sum(n for _, n in real) != total:
        raise ToolError(
            f"{torrent.name}: {len(real)} files of {sum(n for _, n in real)} bytes, "
            f"the tree has {files} files of {total} bytes"
        )
    length = sum(n for _, n in entries)
    pieces = info[b"pieces"]
    if len(pieces) != 20 * math.ceil(length / piece_length):
        raise ToolError(f"{torrent.name}: {len(pieces) // 20} pieces for {length} bytes")
    last = len(pieces) // 20 - 1
    for index in (0, last):
        data = _read_span(entries, index * piece_length, min(length, (index + 1) * piece_length))
        if hashlib.sha1(data).digest() != pieces[20 * index : 20 * index + 20]:
            raise ToolError(f"{torrent.name}: piece {index} does not match the tree")
