"""Staying inside a vendor's published request limits, per installation.

A moving window per key (GoHighLevel: 100 requests per 10 s per location) from the `limits`
package, kept in Redis when REDIS_URL is set so every worker process shares one count,
else in memory. A request that would exceed the window waits for its slot (bounded), and
a 429 from the vendor still wins: its Retry-After decides when to try again.
"""
from __future__ import annotations

import time

from limits import RateLimitItemPerSecond, storage, strategies


class RateLimiter:
    def __init__(self, storage_url: str | None = None):
        self._storage = storage.storage_from_string(storage_url or "memory://")
        self._limiter = strategies.MovingWindowRateLimiter(self._storage)

    def acquire(self, key: str, amount: int, seconds: int, max_wait: float = 30.0) -> float:
        """Take one request slot for ``key``; return how long it waited. Raises TimeoutError past ``max_wait``."""
        item = RateLimitItemPerSecond(amount, seconds)
        waited, start = 0.0, time.monotonic()
        while not self._limiter.hit(item, key):
            reset = self._limiter.get_window_stats(item, key).reset_time
            pause = max(0.01, min(reset - time.time(), 1.0))
            waited = time.monotonic() - start
            if waited + pause > max_wait:
                raise TimeoutError(f"no request slot for {key} within {max_wait:g} s")
            time.sleep(pause)
        return time.monotonic() - start
