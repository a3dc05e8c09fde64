"""The admin login that guards every write in the app.

Pure: the password comes from settings (ORCAI_ADMIN_PASSWORD or its _FILE), the comparison
is constant-time, and a LoginLimiter slows down guessing. Without a configured password
nobody can log in and the app stays read-only.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque

from orcai.config import Settings

MAX_FAILURES = 5
WINDOW_S = 300


def admin_configured(settings: Settings) -> bool:
    return settings.admin_password is not None and bool(settings.admin_password.get_secret_value())


def password_matches(settings: Settings, given: str) -> bool:
    if not admin_configured(settings):
        return False
    expected = settings.admin_password.get_secret_value().encode()
    return hmac.compare_digest(expected, (given or "").encode())


class LoginLimiter:
    """At most MAX_FAILURES failed logins per WINDOW_S seconds, across every session."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S, clock=time.monotonic):
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    def wait_s(self) -> float:
        """Seconds until the next attempt is allowed (0: allowed now)."""
        with self._lock:
            self._forget_old()
            if len(self._failures) < self.max_failures:
                return 0.0
            return max(0.0, self._failures[0] + self.window_s - self.clock())

    def attempt(self, settings: Settings, given: str) -> bool:
        """Check a password unless locked out; failures count towards the limit."""
        if self.wait_s() > 0:
            return False
        ok = password_matches(settings, given)
        if not ok:
            with self._lock:
                self._failures.append(self.clock())
        return ok

    def _forget_old(self) -> None:
        while self._failures and self._failures[0] <= self.clock() - self.window_s:
            self._failures.popleft()
