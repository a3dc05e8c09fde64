"""Failure streaks and failure-rate jumps per task, each judged against the task's own past.

Only finished outcomes count: success or failed. `upstream_failed`, `skipped` and
unfinished runs are neither (the task did not get to run, or has not finished). A mapped
task's instances in one DAG run count once (frame.run_outcomes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom

from orcai.detect.windows import GroupRolling

COLUMNS = ("streak", "history_n", "history_fails", "recent_n", "recent_fails", "prior_n", "prior_fails",
           "failure_streak", "failure_rate", "streak_score", "rate_score")


def _windowed_sum(values: pd.Series, keys: pd.Series, window: int) -> pd.Series:
    return GroupRolling(values, [keys], window).sum()


def failure_verdicts(frame: pd.DataFrame, params) -> pd.DataFrame:
    """Per row: failure streak length, recent and earlier failure counts, and the verdicts."""
    rows = frame[frame["outcome"].to_numpy()]
    task, failed = rows["task"], rows["failed"].astype(float)
    ones = pd.Series(1.0, index=rows.index)
    run_of_successes = (~rows["failed"]).groupby(task).cumsum()
    streak = failed.groupby([task, run_of_successes]).cumsum()
    history, recent = params.failure_history, params.rate_window
    counts = {"seen": _windowed_sum(ones, task, history + 1), "fails_seen": _windowed_sum(failed, task, history + 1),
              "recent_n": _windowed_sum(ones, task, recent), "recent_fails": _windowed_sum(failed, task, recent),
              "all_n": _windowed_sum(ones, task, history + recent),
              "all_fails": _windowed_sum(failed, task, history + recent)}
    judged = failure_rules(failed.to_numpy() > 0, streak.to_numpy(), {k: v.to_numpy() for k, v in counts.items()},
                           params)
    return spread_to_frame(judged, rows.index.to_numpy(), frame.index)


def spread_to_frame(judged: dict, positions: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """The verdicts of the finished runs, placed on every row (zeros / False elsewhere)."""
    columns = {}
    for name in COLUMNS:
        values = np.asarray(judged[name])
        full = np.zeros(len(index), dtype=values.dtype)
        full[positions] = values
        columns[name] = full
    return pd.DataFrame(columns, index=index)


def failure_rules(failed: np.ndarray, streak: np.ndarray, counts: dict[str, np.ndarray], params) -> dict:
    """The streak and rate verdicts from window counts that include the current run:
    seen / fails_seen (last failure_history + 1), recent_n / recent_fails (last rate_window),
    all_n / all_fails (last failure_history + rate_window)."""
    history_n = np.clip(counts["seen"] - 1 - np.clip(streak - 1, 0, None), 0, None)
    history_fails = np.clip(counts["fails_seen"] - streak, 0, None)
    history_rate = np.maximum((history_fails + 1) / (history_n + 2), params.failure_rate_floor)
    streak_p = history_rate ** streak
    is_streak = (streak >= params.streak_min) & (streak_p < params.risk) & (history_n >= params.min_history)
    recent_n, recent_fails = counts["recent_n"], counts["recent_fails"]
    prior_n, prior_fails = counts["all_n"] - recent_n, counts["all_fails"] - recent_fails
    prior_rate = np.maximum((prior_fails + 1) / (prior_n + 2), params.failure_rate_floor)
    rate_p = binom.sf(recent_fails - 1, recent_n, prior_rate)
    is_rate = (failed & (recent_fails >= params.rate_min_failures) & (rate_p < params.risk)
               & (prior_n >= params.min_history) & ~is_streak)
    return {"streak": streak, "history_n": history_n, "history_fails": history_fails, "recent_n": recent_n,
            "recent_fails": recent_fails, "prior_n": prior_n, "prior_fails": prior_fails,
            "failure_streak": is_streak, "failure_rate": is_rate,
            "streak_score": _surprise(streak_p), "rate_score": _surprise(rate_p)}


def _surprise(p_values) -> np.ndarray:
    """-log10 of a p-value: failure scores read like duration scores (a tail probability)."""
    return -np.log10(np.clip(np.asarray(p_values, dtype=float), 1e-300, 1.0))
