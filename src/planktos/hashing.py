"""Hash shards: SHA-1 per piece (BEP 3), and SHA-256 per file or, for large files, per piece.

Every byte goes through exactly two hashes: SHA-1 for BitTorrent, SHA-256 for the browser's
verification. A large file's SHA-256 per piece ("chunks") already covers each of its bytes, so
it gets no whole-file SHA-256 (a second SHA-256 pass over most of a site's bytes, checking
nothing the chunks do not); its identity is the SHA-256 of its chunk digests laid end to end.

Each file is read once; hashlib releases the GIL on large updates, so threads use every core.
A file that changes while it is read (size, mtime or inode differ after reading, or the byte
count is off) raises :class:`BuildError` rather than producing a silently wrong torrent.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from planktos.errors import BuildError
from planktos.walk import SiteFile

READ_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileDigest:
    """Hashes of one file's content.

    ``content`` identifies the bytes: their SHA-256, or for a chunked file the SHA-256 of
    ``chunks`` concatenated (as unique, and it needs no second pass over the file).
    """

    content: bytes
    chunks: tuple[bytes, ...] | None = None  # SHA-256 per piece, for large files


@dataclass(frozen=True, slots=True)
class ShardDigest:
    """Hashes of one shard: concatenated SHA-1 piece digests and each file's digest."""

    pieces: bytes
    files: tuple[FileDigest, ...]


def hash_shard(
    files: list[SiteFile],
    piece_length: int,
    chunked: bool,
    progress: Callable[[int], None] | None = None,
    abort: threading.Event | None = None,
) -> ShardDigest:
    """Hash the files of one shard laid end to end.

    ``chunked`` (single large files only) hashes SHA-256 per piece instead of per file, so
    that a browser can verify a streamed file piece by piece. Setting ``abort`` stops the
    work at the next block.
    """
    pieces: list[bytes] = []
    piece = hashlib.sha1()
    in_piece = 0
    digests: list[FileDigest] = []
    buf = bytearray(READ_BLOCK)
    view = memoryview(buf)
    for f in files:
        whole = None if chunked else hashlib.sha256()
        chunks: list[bytes] = []
        chunk = hashlib.sha256()
        total = 0
        try:
            fd = os.open(f.path, os.O_RDONLY)
        except OSError as err:
            raise BuildError(
                f.rel, f"cannot be read ({err.strerror}); fix or --exclude it"
            ) from err
        try:
            # Up to the size the walk saw: a file that grew since shows in the fstat below.
            while total < f.size:
                try:
                    n = os.readv(fd, [buf])
                except OSError as err:
                    raise BuildError(f.rel, f"cannot be read ({err.strerror})") from err
                if n == 0:
                    break
                if abort is not None and abort.is_set():
                    raise BuildError(f.rel, "hashing aborted")
                total += n
                data = view[:n]
                if whole is not None:
                    whole.update(data)
                pos = 0
                while pos < n:
                    take = min(piece_length - in_piece, n - pos)
                    part = data[pos : pos + take]
                    piece.update(part)
                    if chunked:
                        chunk.update(part)
                    in_piece += take
                    pos += take
                    if in_piece == piece_length:
                        pieces.append(piece.digest())
                        piece = hashlib.sha1()
                        in_piece = 0
                        if chunked:
                            chunks.append(chunk.digest())
                            chunk = hashlib.sha256()
                if progress:
                    progress(n)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if (total, st.st_size, st.st_mtime_ns, st.st_ino) != (f.size, f.size, f.mtime_ns, f.inode):
            raise BuildError(
                f.rel, "changed while being hashed; run the build again once it is stable"
            )
        if whole is not None:
            digests.append(FileDigest(whole.digest()))
        else:
            if in_piece:
                chunks.append(chunk.digest())
            digests.append(FileDigest(hashlib.sha256(b"".join(chunks)).digest(), tuple(chunks)))
    if in_piece:
        pieces.append(piece.digest())
    return ShardDigest(b"".join(pieces), tuple(digests))
