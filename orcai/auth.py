"""The admin login that guards every write in the app.

Pure: the password comes from settings (ORCAI_ADMIN_PASSWORD or its _FILE), the comparison
is constant-time, and a LoginLimiter slows down guessing per client. Without a configured
password nobody can log in and the app stays read-only. This is local mode; with OpenID
Connect configured (orcai.oidc) the identity provider signs people in instead.
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
    """At most MAX_FAILURES failed logins per WINDOW_S seconds *per client* (its address,
    else its session): guessing from one client never locks out another."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S, clock=time.monotonic):
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Seconds until this client's next attempt is allowed (0: allowed now)."""
        with self._lock:
            failures = self._recent(client)
            if len(failures) < self.max_failures:
                return 0.0
            return max(0.0, failures[0] + self.window_s - self.clock())

    def attempt(self, client: str, settings: Settings, given: str) -> bool:
        """Check a password unless this client is locked out; failures count towards its limit."""
        if self.wait_s(client) > 0:
            return False
        ok = password_matches(settings, given)
        if not ok:
            with self._lock:
                self._failures.setdefault(client, deque()).append(self.clock())
        return ok

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.get(client, deque())
        while failures and failures[0] <= self.clock() - self.window_s:
            failures.popleft()
        if not failures:
            self._failures.pop(client, None)  # forget idle clients: the table stays small
        return failures
