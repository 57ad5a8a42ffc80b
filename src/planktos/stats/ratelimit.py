"""Token buckets per key, in memory only: a report rate per visitor and per network address.

Nothing here is ever written anywhere. Keys are bounded in number: when full, the key seen
longest ago is forgotten (which only gives that key a fresh bucket).
"""

from __future__ import annotations

import hashlib
import ipaddress
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
    memory, where a crash dump or a debugger would show it. An IPv6 address counts as its
    /64, which one host may own whole: else one machine would be billions of addresses.
    """

    def __init__(self) -> None:
        self._salt = os.urandom(16)

    def __call__(self, address: str) -> str:
        return hashlib.blake2b(
            _network(address).encode(), key=self._salt, digest_size=12
        ).hexdigest()


def _network(address: str) -> str:
    """An IPv4 address as it is (also when IPv4-mapped), an IPv6 address as its /64."""
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return address  # not an address (a Unix socket's peer): itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class AddressBudget:
    """How many report bytes one address may add per minute: visitors' claims are bounded by
    what the server itself observes (README, "Offload statistics").

    Each minute, an address may claim ``base_bytes`` plus ``per_connection_bytes`` for each
    WebSocket connection it holds open to the embedded tracker at the time (a visitor who
    gets bytes from peers found them through such a connection). What a report claims
    beyond what is left is scaled down, all its byte counts alike. Keys are forgotten when
    the minute turns, so memory stays within one minute's addresses.
    """

    def __init__(
        self,
        base_bytes: int = 16 << 20,
        per_connection_bytes: int = 256 << 20,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_bytes = base_bytes
        self.per_connection_bytes = per_connection_bytes
        self.clipped_bytes = 0  # claimed but not counted, since start
        self._clock = clock
        self._minute = -1
        self._spent: dict[str, int] = {}

    def allow(self, key: str, connections: int, claimed: int) -> int:
        """Take up to ``claimed`` bytes from ``key``'s budget; returns how many it got."""
        minute = int(self._clock()) // 60
        if minute != self._minute:
            self._minute = minute
            self._spent.clear()
        spent = self._spent.get(key, 0)
        room = self.base_bytes + connections * self.per_connection_bytes - spent
        granted = max(0, min(claimed, room))
        self._spent[key] = spent + granted
        self.clipped_bytes += claimed - granted
        return granted
