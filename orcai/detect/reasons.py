"""Plain-language reasons with numbers a person can act on, and severities.

Called for flagged runs only (a handful per sync), one sentence each.
"""

from __future__ import annotations

import math

import pandas as pd

_UNITS = ((86_400, "d"), (3600, "h"), (60, "min"), (1, "s"))


def _unit_for(seconds: float) -> tuple[int, str]:
    return next(((size, name) for size, name in _UNITS if seconds >= 0.95 * size), (1, "s"))


def _number(value: float) -> str:
    text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return text[:-2] if text.endswith(".0") else text


def format_duration(seconds: float) -> str:
    """41 min, 9.5 min, 45 s, 2.1 h, 3 d."""
    if seconds is None or not math.isfinite(seconds):
        return "an unknown time"
    size, name = _unit_for(abs(seconds))
    return f"{_number(seconds / size)} {name}"


def format_range(low: float, high: float) -> str:
    """8–12 min: both ends in the unit of the upper end."""
    size, name = _unit_for(high)
    return f"{_number(low / size)}–{_number(high / size)} {name}"


def format_ratio(ratio: float) -> str:
    return f"{ratio:.1f}×" if ratio < 10 else f"{ratio:.0f}×"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _baseline_words(row) -> str:
    """'its median of 9.5 min over the last 30 successful runs (usual range 8–12 min)'."""
    n = int(row.n)
    usual = format_range(row.usual_low, row.usual_high)
    if abs(row.season) > 0:
        hour = pd.Timestamp(row.start_ns, tz="UTC")
        return (f"its usual {format_duration(row.expected_s)} at this time of "
                f"{'day' if row.bucket_kind == 'hour' else 'week'} "
                f"({hour:%a %H:00} UTC; median over the last {n} successful runs "
                f"{format_duration(math.exp(row.med))}, usual range here {usual})")
    return (f"its median of {format_duration(row.expected_s)} over the last {n} successful runs "
            f"(usual range {usual})")


def rarity(p: float, n: float, direction: str = "slower") -> str:
    """'slower than 99.98 % of its last 640 runs (about 1 in 5,000)' from a tail probability."""
    if not math.isfinite(p) or not math.isfinite(n):
        return ""
    runs = f"its last {int(n)} runs"
    if p < 1e-6:
        return f"{direction} than any of {runs} would suggest (about 1 in 10^{-math.log10(p):.0f})"
    digits = min(6, max(1, math.ceil(-math.log10(p)) - 2))
    return f"{direction} than {100 * (1 - p):.{digits}f} % of {runs} (about 1 in {_round_count(1 / p)})"


def _round_count(value: float) -> str:
    magnitude = 10 ** max(0, int(math.log10(value)) - 1)
    return f"{int(round(value / magnitude) * magnitude):,}"


def _upper_rarity(row) -> str:
    return rarity(10 ** -row.surprise_up, row.tail_n)


def slow_reason(row) -> str:
    text = (f"took {format_duration(row.duration)}, {format_ratio(row.ratio)} {_baseline_words(row)}; "
            f"{_upper_rarity(row)}")
    if row.slow_streak >= 1:
        text += f"; the {_ordinal(int(row.slow_streak) + 1)} slow run in a row"
    return text


def drift_reason(row) -> str:
    together = 10 ** -row.persist
    return (f"took {format_duration(row.duration)}, {format_ratio(row.ratio)} {_baseline_words(row)}; "
            f"the {_ordinal(int(row.shift_streak))} run in a row above {format_duration(row.exceed_s)}, which only "
            f"{100 * row.exceed_share:.0f} % of its last {int(row.tail_n)} runs exceeded; a streak this long is "
            f"about 1 in {_round_count(1 / together)} by its own history: it has shifted or is slowing down")


def fast_reason(row) -> str:
    return (f"finished in {format_duration(row.duration)}, {row.ratio:.2f}× {_baseline_words(row)}; "
            f"{rarity(10 ** -row.surprise_low, row.tail_n, 'faster')}: check that it did its work")


def stuck_reason(row) -> str:
    verb = "has been running for" if row.unfinished else "ran for"
    tail = "it may be stuck" if row.unfinished else "then failed: it probably hung until a timeout killed it"
    return (f"{verb} {format_duration(row.duration)}, {format_ratio(row.ratio)} {_baseline_words(row)}; "
            f"{_upper_rarity(row)}; {tail}")


def streak_reason(row) -> str:
    before = int(row.history_n)
    share = 100 * row.history_fails / before if before else 0
    return (f"failed {int(row.streak)} times in a row; before that it failed "
            f"{int(row.history_fails)} of its previous {before} runs ({share:.0f}%)")


def rate_reason(row) -> str:
    recent = 100 * row.recent_fails / row.recent_n
    prior = 100 * row.prior_fails / row.prior_n if row.prior_n else 0
    return (f"failed {int(row.recent_fails)} of its last {int(row.recent_n)} runs ({recent:.0f}%), "
            f"against {int(row.prior_fails)} of the {int(row.prior_n)} runs before ({prior:.1f}%)")


def _every(seconds: float) -> str:
    return f"every {format_duration(seconds)}"


def missing_reason(row) -> str:
    missed = int(row.missed)
    after = pd.Timestamp(int(row.prev_ns), tz="UTC")
    until = pd.Timestamp(int(row.time_ns), tz="UTC")
    runs = "scheduled run" if missed == 1 else "scheduled runs"
    return (f"{missed} {runs} of this DAG did not happen between {after:%Y-%m-%d %H:%M} and "
            f"{until:%Y-%m-%d %H:%M} UTC (it runs {_every(row.interval_s)})")


def late_reason(row) -> str:
    """Delays count from the end of the data interval (when Airflow schedules the run)."""
    due = row.interval_s if math.isfinite(row.interval_s) else 0.0
    return (f"the DAG run started {format_duration(row.delay_s - row.usual_delay_s)} late: "
            f"{format_duration(row.delay_s - due)} after it was due, where its runs usually start "
            f"{format_duration(row.usual_delay_s - due)} after (it runs {_every(row.interval_s)})")


REASONS = {"slow": slow_reason, "drift": drift_reason, "fast": fast_reason, "stuck": stuck_reason,
           "failure_streak": streak_reason, "failure_rate": rate_reason,
           "missing": missing_reason, "late": late_reason}


def severity_of_missing(missed: float) -> str:
    return "high" if missed >= 3 else "medium"


DURATION_KINDS = ("slow", "fast", "drift", "stuck")


def small_excess(row, min_excess_s: float) -> bool:
    """A duration flag whose run is off its expected duration by less than `min_excess_s`."""
    return row.kind in DURATION_KINDS and abs(row.duration - row.expected_s) < min_excess_s


def small_excess_words(row, min_excess_s: float) -> str:
    if not small_excess(row, min_excess_s):
        return ""
    return (f" (only {format_duration(abs(row.duration - row.expected_s))} off: under the "
            f"{format_duration(min_excess_s)} worth a page)")


def severity(row, threshold: float, min_excess_s: float = 0.0) -> str:
    """high / medium / low from the kind and the tail probability: `threshold` is the score
    at the configured risk, each further factor of 10 rarer is one level up. A duration
    flag off by less than `min_excess_s` seconds is low whatever its rarity: a 0.2 s task
    taking 2 s is worth a line on the Anomalies page, not a page."""
    if small_excess(row, min_excess_s):
        return "low"
    if row.kind == "stuck":
        return "high"
    if row.kind == "missing":
        return severity_of_missing(row.missed)
    return "high" if row.score >= threshold + 2 else "medium" if row.score >= threshold + 1 else "low"
