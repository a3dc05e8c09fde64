"""Shared knobs for the ORC AI demo DAGs.

The demo DAGs exist so that a fresh `make up` has live history within minutes. Their
schedules are short on purpose; ORC_DEMO_INTERVAL_MIN stretches them on slower machines.
"""

import os
from datetime import datetime, timedelta, timezone

DEMO_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
DEMO_TAGS = ["orcai-demo"]


def every(minutes: int) -> timedelta:
    """A demo schedule, scaled by ORC_DEMO_INTERVAL_MIN (default 1 = as written)."""
    scale = max(1, int(os.environ.get("ORC_DEMO_INTERVAL_MIN", "1")))
    return timedelta(minutes=minutes * scale)


DEFAULT_ARGS = {"owner": "data-platform", "retries": 0}
