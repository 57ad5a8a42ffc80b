"""Make a v1 torrent of a directory with libtorrent (PyPI), as a process of its own.

Run by the build benchmark so that libtorrent's time and peak memory are measured like the
other tools'. Usage: ``python bench/libtorrent_create.py DIR OUT PIECE_LENGTH``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import libtorrent as lt


def main(tree: Path, out: Path, piece_length: int) -> None:
    files: Any
    if hasattr(lt, "list_files"):  # 2.1: the replacement of the deprecated add_files
        files = lt.list_files(str(tree))
    else:
        files = lt.file_storage()
        lt.add_files(files, str(tree))
    torrent = lt.create_torrent(files, piece_length, lt.create_torrent.v1_only)
    lt.set_piece_hashes(torrent, str(tree.parent))
    out.write_bytes(lt.bencode(torrent.generate()))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]), int(sys.argv[3]))
