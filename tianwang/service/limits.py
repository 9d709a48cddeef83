"""Rate limits: requests per API key or person, and login attempts per username.

A token bucket per caller (:class:`RateLimiter`): ``rate`` tokens a second up to
``burst``; a request takes one, and without one it is refused with the seconds until
the next (the service answers ``429`` with ``Retry-After``). The buckets live in the
process: with ``--workers N`` each worker counts on its own, so a caller gets up to N
times the rate in all (a shared limit needs a shared store; see the scaling issue).

* every authenticated request: ``TIANWANG_RATE_LIMIT`` a second per key or person
  (default 1,000; ``0`` turns it off), bursts of ``TIANWANG_RATE_BURST`` (2,000);
* logging in: ``TIANWANG_LOGIN_ATTEMPTS_PER_MINUTE`` per username (default 10), right or
  wrong, so a password cannot be guessed faster than that.

Examples
--------
>>> limiter = RateLimiter(rate=1.0, burst=2, clock=iter([0.0, 0.0, 0.0, 0.5]).__next__)
>>> limiter.take("k"), limiter.take("k"), limiter.take("k")
(None, None, 1.0)
>>> limiter.take("k")  # half a second later: half a token, half a second more to wait
0.5
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets by key; :meth:`take` answers ``None`` (go on) or the seconds to wait."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Take one token from ``key``'s bucket: ``None``, or the seconds until one is there."""
        if self.rate <= 0:
            return None
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = None
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)  # most recent last: the oldest go first when full
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait
