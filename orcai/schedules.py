"""How often a DAG runs, from Airflow's `timetable_summary`. Pure.

Used by detection (late and missing runs are judged against the schedule) and by the
simulator (synthetic runs follow it).
"""

from __future__ import annotations

import re

DEFAULT_INTERVAL_S = 3600
_PRESETS = {"@hourly": 3600, "@daily": 86_400, "@midnight": 86_400, "@weekly": 604_800,
            "@monthly": 30 * 86_400, "@quarterly": 91 * 86_400, "@yearly": 365 * 86_400,
            "@annually": 365 * 86_400}
_TIMEDELTA = re.compile(r"^(?:(\d+) days?, )?(\d+):(\d{2}):(\d{2})(?:\.\d+)?$")


def schedule_interval_s(schedule: str | None) -> int:
    """Seconds between runs for an Airflow `timetable_summary`; hourly when unknown."""
    text = (schedule or "").strip()
    if text in _PRESETS:
        return _PRESETS[text]
    match = _TIMEDELTA.match(text)
    if match:
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return max(60, days * 86_400 + hours * 3600 + minutes * 60 + seconds)
    fields = text.split()
    if len(fields) == 5:
        return _cron_interval_s(*fields) or DEFAULT_INTERVAL_S
    return DEFAULT_INTERVAL_S  # None, @once, asset-triggered, custom timetables


def known_interval_s(schedule: str | None) -> int | None:
    """`schedule_interval_s` when the schedule states a period; None for no schedule,
    @once, asset-triggered and custom timetables (no default guessed)."""
    text = (schedule or "").strip()
    if text in _PRESETS or _TIMEDELTA.match(text):
        return schedule_interval_s(text)
    fields = text.split()
    return _cron_interval_s(*fields) if len(fields) == 5 else None


def _cron_interval_s(minute: str, hour: str, dom: str, month: str, dow: str) -> int | None:
    """Best effort: the typical gap between firings of a simple cron expression."""
    if hour == "*" and minute.startswith("*/") and minute[2:].isdigit():
        return 60 * int(minute[2:])
    if hour == "*" and minute == "*":
        return 60
    if not re.fullmatch(r"[\d,]+", minute):
        return None
    if hour == "*":
        return 3600 // len(minute.split(","))
    if hour.startswith("*/") and hour[2:].isdigit():
        return 3600 * int(hour[2:])
    if not re.fullmatch(r"[\d,]+", hour):
        return None
    if dow != "*":
        return 604_800
    if dom != "*" or month != "*":
        return 30 * 86_400
    return 86_400 // len(hour.split(","))
