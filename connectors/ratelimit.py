"""Staying inside a vendor's published request limits, per installation.

A moving window per key (GoHighLevel: 100 requests per 10 s per location) from the `limits`
package, kept in Redis when REDIS_URL is set so every worker process shares one count,
else in memory. A request that would exceed the window is not sent: the caller learns how
long until a slot frees and reschedules its job for then (a worker thread never sleeps on
one location while another's writes wait). A 429 from the vendor still wins: its
Retry-After decides when to try again. While Redis is away (restarting), the count is skipped
rather than the write: the vendor's own 429 still holds Ringback to its limit.
"""
from __future__ import annotations

import logging
import time

from limits import RateLimitItemPerSecond, storage, strategies
from redis.exceptions import RedisError

log = logging.getLogger("ringback.ratelimit")


class RateLimiter:
    def __init__(self, storage_url: str | None = None):
        self._storage = storage.storage_from_string(storage_url or "memory://")
        self._limiter = strategies.MovingWindowRateLimiter(self._storage)

    def try_acquire(self, key: str, amount: int, seconds: int) -> float:
        """Take one request slot for ``key``: 0.0 if taken, else the seconds until one frees."""
        item = RateLimitItemPerSecond(amount, seconds)
        try:
            if self._limiter.hit(item, key):
                return 0.0
            return max(0.01, self._limiter.get_window_stats(item, key).reset_time - time.time())
        except (RedisError, OSError) as exc:
            log.warning("rate-limit count unavailable key=ratelimit.unavailable %s: %s", key, exc)
            return 0.0
