"""Group a site's files into shards, one BitTorrent v1 torrent each (see DESIGN.md, Shards).

Pure planning, no I/O. The rules:

* A file of at least ``LARGE_FILE`` bytes gets a shard of its own, keyed by its content
  (SHA-256), so that moving or re-deploying it keeps its swarm and duplicates share one.
* Smaller files are taken in path order and cut into groups by content-defined boundaries on
  their *paths*: a group ends after a file whose path hash is 0 modulo ``GROUP_FILES``, or when
  it reaches ``GROUP_BYTES`` or ``GROUP_MAX_FILES``. Editing a file changes only its group;
  adding or removing one changes at most two neighbouring groups.
* Empty files get no shard: there is nothing to fetch, and WebTorrent asks web seeds for a
  byte range of them, which a correct server refuses with 416.
* A shard holding one file is a single-file torrent: WebTorrent treats any one-file torrent as
  single-file when it builds web seed URLs, so a one-entry ``files`` list would break it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import attrgetter

from planktos.errors import InputError
from planktos.walk import SiteFile

KiB = 1024
MiB = 1024 * KiB
LARGE_FILE = 1 * MiB
GROUP_FILES = 32
GROUP_BYTES = 4 * MiB
GROUP_MAX_FILES = 256
SMALL_PIECE = 16 * KiB
MIN_PIECE = 16 * KiB
MAX_PIECE = 16 * MiB
_SIZE = attrgetter("size")


@dataclass(slots=True)
class Shard:
    """A planned torrent: files in torrent order and the piece length."""

    key: str  # torrent name and id; for large files set once the content hash is known
    files: list[SiteFile]
    piece_length: int
    large: bool
    offsets: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.offsets = list(accumulate(map(_SIZE, self.files[:-1]), initial=0))

    @property
    def length(self) -> int:
        """Total bytes in the torrent."""
        return self.offsets[-1] + self.files[-1].size if self.files else 0

    @property
    def single_file(self) -> bool:
        """Whether this shard is written as a single-file torrent."""
        return len(self.files) == 1


def piece_length_for(size: int) -> int:
    """Auto piece length of a large file: about 1,000 pieces, from 64 KiB to 4 MiB."""
    length = 64 * KiB
    while length < 4 * MiB and size > length * 1024:
        length *= 2
    return length


def check_piece_size(value: int) -> bool:
    """Whether ``value`` is a valid piece length: a power of two from 16 KiB to 16 MiB."""
    return MIN_PIECE <= value <= MAX_PIECE and value & (value - 1) == 0


def parse_piece_size(value: str) -> int:
    """A piece length written as bytes or with a K/M suffix (``256K``, ``1M``), checked."""
    match = re.fullmatch(r"(\d+)\s*([kKmM]?)(?:i?[bB])?", value.strip())
    size = 0
    if match:
        size = int(match[1]) * {"": 1, "k": KiB, "m": MiB}[match[2].lower()]
    if not check_piece_size(size):
        raise InputError(
            repr(value), "invalid piece size; give a power of two from 16K to 16M, e.g. 256K"
        )
    return size


def plan(
    files: Sequence[SiteFile],
    piece_size: int | None = None,
    boundaries: Sequence[bool] | None = None,
) -> list[Shard]:
    """Plan shards for ``files`` (sorted by path); ``piece_size`` overrides every piece length.

    ``boundaries``, when given, holds whether each file's path hash is 0 modulo
    ``GROUP_FILES`` (:func:`planktos.tables.boundary_bit`, computed once for both).
    """
    shards: list[Shard] = []
    group: list[SiteFile] = []
    group_bytes = 0

    def close_group() -> None:
        nonlocal group, group_bytes
        if group:
            key = "g-" + hashlib.sha1(group[0].rel.encode()).hexdigest()[:16]
            shards.append(Shard(key, group, piece_size or SMALL_PIECE, large=False))
        group, group_bytes = [], 0

    for i, f in enumerate(files):
        size = f.size
        if size == 0:
            continue  # nothing to fetch: the manifest lists it without a shard
        if size >= LARGE_FILE:
            shards.append(Shard("", [f], piece_size or piece_length_for(size), large=True))
            continue
        group.append(f)
        group_bytes += size
        if boundaries is not None:
            boundary = boundaries[i]
        else:
            boundary = int.from_bytes(hashlib.sha1(f.rel.encode()).digest()[:4]) % GROUP_FILES == 0
        if boundary or group_bytes >= GROUP_BYTES or len(group) >= GROUP_MAX_FILES:
            close_group()
    close_group()
    return shards
