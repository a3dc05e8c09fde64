"""A DAG run's deadline, from an admin's setting on the Runs page, a DAG tag or param, or
the `ORCAI_DEADLINES` setting. Pure.

`deadline:07:00` — done by 07:00 UTC on the day of the run's logical date (the next day
when the logical date is already past 07:00); `deadline:+2h` / `deadline:+90m` /
`deadline:+45s` — within that long of the logical date. The same values serve as the DAG's
`deadline` param (`params={"deadline": "07:00"}`). An admin's setting on the page wins (it
is the latest word), then the DAG's own tag, then its param, then `ORCAI_DEADLINES`, where
the first glob matching the DAG id wins: `ORCAI_DEADLINES="report_*=07:00;etl_*=+2h"`.
"""

from __future__ import annotations

import fnmatch
import re

from orcai.model import DAY_MS, HOUR_MS, MINUTE_MS

_UNIT_MS = {"h": HOUR_MS, "m": MINUTE_MS, "s": 1000}

TAG_PREFIX = "deadline:"
_AT = re.compile(r"^(\d{1,2}):(\d{2})$")
_WITHIN = re.compile(r"^\+(\d+(?:\.\d+)?)(h|m|s)$")


def deadline_rules(text: str) -> tuple[tuple[str, str], ...]:
    """`glob=07:00;glob=+2h` -> ((glob, "07:00"), (glob, "+2h")). Raises ValueError saying
    which entry is wrong."""
    rules = []
    for entry in (e.strip() for e in (text or "").split(";")):
        if not entry:
            continue
        glob, _, spec = (part.strip() for part in entry.partition("="))
        spec = spec.lower().removeprefix(TAG_PREFIX)
        if not glob or not _valid(spec):
            raise ValueError(f"{entry!r} is not glob=HH:MM or glob=+Nh / +Nm / +Ns (e.g. report_*=07:00;etl_*=+2h)")
        rules.append((glob, spec))
    return tuple(rules)


def spec_of(text: str) -> str:
    """"07:00", "+2h", "deadline:+90m" -> the deadline ("07:00", "+2h", "+90m"); ValueError
    saying what is expected otherwise."""
    spec = str(text or "").strip().lower().removeprefix(TAG_PREFIX)
    if not _valid(spec):
        raise ValueError(f"{text!r} is not a deadline: HH:MM (UTC) or +Nh / +Nm / +Ns after the logical date")
    return spec


def deadline_spec(dag_id: str, tags, rules: tuple[tuple[str, str], ...] = (), param: str | None = None,
                  setting: str | None = None) -> str | None:
    """The deadline that applies to a DAG ("07:00", "+2h"): an admin's `setting`, else its
    tag, else its `deadline` param, else the first matching rule. An invalid one counts as none."""
    if setting and _valid(setting):
        return setting
    for tag in tags or ():
        text = str(tag).strip().lower()
        if text.startswith(TAG_PREFIX) and _valid(text[len(TAG_PREFIX):]):
            return text[len(TAG_PREFIX):]
    param = str(param or "").strip().lower().removeprefix(TAG_PREFIX)
    if _valid(param):
        return param
    return next((spec for glob, spec in rules if fnmatch.fnmatchcase(dag_id, glob)), None)


def deadline_at(spec: str | None, logical_ms: int | None) -> int | None:
    """The deadline (epoch ms) of a run with that logical date, or None."""
    if spec is None or logical_ms is None:
        return None
    if match := _WITHIN.match(spec):
        return int(logical_ms + float(match[1]) * _UNIT_MS[match[2]])
    if match := _AT.match(spec):
        day = logical_ms - logical_ms % DAY_MS
        at = day + int(match[1]) * HOUR_MS + int(match[2]) * MINUTE_MS
        return at if at > logical_ms else at + DAY_MS
    return None


def parse_deadline(tags, logical_ms: int | None) -> int | None:
    """The run's deadline (epoch ms) from a `deadline:...` tag, or None."""
    return deadline_at(deadline_spec("", tags), logical_ms)


def _valid(spec: str) -> bool:
    at = _AT.match(spec)
    return bool(_WITHIN.match(spec)) or bool(at and int(at[1]) < 24 and int(at[2]) < 60)
