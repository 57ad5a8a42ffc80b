"""Token buckets per key, in memory only: a report rate per visitor and per network address.

Nothing here is ever written anywhere. Keys are bounded in number: when full, the key seen
longest ago is forgotten (which only gives that key a fresh bucket).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Allow ``burst`` events at once per key, refilled at ``per_second``."""

    def __init__(
        self,
        per_second: float,
        burst: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def wait_s(self, key: str) -> float:
        """Take one token for ``key``: 0 when allowed, else the seconds until one is due."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.per_second)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.per_second
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class AddressKeys:
    """Keys for network addresses: a keyed hash whose key lives in this process only.

    The limiter must tell addresses apart, but no address may be kept in the clear, even in
    memory, where a crash dump or a debugger would show it.
    """

    def __init__(self) -> None:
        self._salt = os.urandom(16)

    def __call__(self, address: str) -> str:
        return hashlib.blake2b(address.encode(), key=self._salt, digest_size=12).hexdigest()
