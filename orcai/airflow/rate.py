"""A request budget for Airflow's API: a token bucket shared by every thread of a client.

`ORCAI_AIRFLOW_MAX_RPS` tokens are added per second, up to a burst of one second's worth;
each request takes one, waiting when none is left. A server that answers 429 or 503 with
`Retry-After` pauses the bucket until then, for every thread: ORC AI never asks again
before the server said it may. Pure apart from the injected clock and sleep.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class RequestRate:
    def __init__(self, max_rps: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if max_rps <= 0:
            raise ValueError("max_rps must be positive")
        self.max_rps = max_rps
        self.burst = max(1.0, max_rps)  # one second's worth
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()
        self._paused_until = 0.0
        self.waited_s = 0.0  # total time callers spent waiting (reported by benchmarks)

    def acquire(self) -> None:
        """Take one token, sleeping until one is available (and any pause is over)."""
        while True:
            with self._lock:
                wait = self._reserve()
            if wait <= 0:
                return
            self.waited_s += wait
            self._sleep(wait)

    def _reserve(self) -> float:
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.max_rps)
        self._updated = now
        if self._tokens >= 1 - 1e-9:  # float slack: a wait of 1e-15 s would never end
            self._tokens = max(0.0, self._tokens - 1)
            return 0.0
        return (1 - self._tokens) / self.max_rps

    def pause(self, seconds: float) -> None:
        """The server asked for a break (Retry-After): nobody asks before it is over."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
            self._tokens = 0.0
            self._updated = self._paused_until


def retry_after_s(headers) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; an HTTP date is not used by Airflow)."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None
