"""Generate the synthetic site tree the build benchmarks use (fixed seed, reproducible).

Full size, as in the benchmark issue: 20,000 files of 1-50 KB, 200 of 1-5 MB and 5 of 200 MB
(about 2.1 GB). Content comes from one 64 MiB random pool at per-file offsets, each file
starting with its own index, so that no two files are equal (content-keyed shards would
otherwise dedupe them) while generation stays disk-bound.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

KB = 1000
MB = 1000 * KB


@dataclass(frozen=True)
class TreeSpec:
    """How many files of which sizes."""

    small: int = 20_000
    small_range: tuple[int, int] = (1 * KB, 50 * KB)
    medium: int = 200
    medium_range: tuple[int, int] = (1 * MB, 5 * MB)
    large: int = 5
    large_size: int = 200 * MB


SPECS = {
    "full": TreeSpec(),
    "rebuild": TreeSpec(small=10_000, medium=0, large=0),
    "tiny": TreeSpec(
        small=300, medium=3, medium_range=(1 * MB, 2 * MB), large=1, large_size=3 * MB
    ),
}


def generate(root: Path, spec: TreeSpec, seed: int = 1) -> int:
    """Write the tree under ``root``; returns the total bytes written."""
    rng = random.Random(seed)
    pool = rng.randbytes(64 * 1024 * 1024)
    total = 0

    def write(rel: str, size: int, index: int) -> None:
        nonlocal total
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            head = f"{index}\n".encode()
            out.write(head)
            left = size - len(head)
            while left > 0:
                start = rng.randrange(len(pool) - min(left, 8 * MB))
                part = pool[start : start + min(left, 8 * MB)]
                out.write(part)
                left -= len(part)
        total += size

    n = 0
    for i in range(spec.small):
        write(f"pages/d{i % 200:03}/p{i:05}.html", rng.randint(*spec.small_range), n)
        n += 1
    for i in range(spec.medium):
        write(f"assets/m{i:03}.bin", rng.randint(*spec.medium_range), n)
        n += 1
    for i in range(spec.large):
        write(f"media/v{i}.webm", spec.large_size, n)
        n += 1
    return total
