"""Turning per-row verdicts from the sub-detectors into the output columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orcai.detect.frame import empty_output
from orcai.detect.reasons import REASONS, severity, small_excess_words

# When a run trips several rules, the first in this order names it.
PRIORITY = ("stuck", "failure_streak", "failure_rate", "slow", "drift", "fast", "missing", "late")
DAG_RUN_KINDS = ("missing", "late")
ALL_KINDS = PRIORITY


def choose_kind(flags: dict[str, np.ndarray]) -> np.ndarray:
    return np.select([flags[kind] for kind in PRIORITY], list(PRIORITY), default="")


def choose_score(kind: np.ndarray, scores: dict[str, np.ndarray], normal_score: np.ndarray) -> np.ndarray:
    score = np.where(np.isfinite(normal_score), np.maximum(normal_score, 0.0), 0.0)
    for name, values in scores.items():
        score = np.where(kind == name, values, score)
    return score


def write_output(runs: pd.DataFrame, detail: pd.DataFrame, detector: str, threshold: float,
                 min_excess_s: float = 0.0) -> pd.DataFrame:
    """`runs` (same rows, same order) plus the output columns, reasons for flagged rows;
    duration flags off by less than `min_excess_s` seconds are low severity (see reasons)."""
    out = empty_output(runs, detector)
    rows = detail["row"].to_numpy()
    flagged = detail["kind"].to_numpy() != ""
    reason = np.full(len(detail), "", dtype=object)
    level = np.full(len(detail), "", dtype=object)
    for position, row in zip(np.flatnonzero(flagged), detail[flagged].itertuples(index=False)):
        reason[position] = REASONS[row.kind](row) + small_excess_words(row, min_excess_s)
        level[position] = severity(row, threshold, min_excess_s)
    scope = np.where(np.isin(detail["kind"], DAG_RUN_KINDS), "dag_run", np.where(flagged, "task_run", ""))
    columns = {"is_anomaly": flagged, "score": detail["score"].to_numpy(), "reason": reason,
               "kind": detail["kind"].to_numpy(), "severity": level, "scope": scope,
               "expected_s": detail["expected_s"].to_numpy(),
               "expected_low": detail["expected_low"].to_numpy(),
               "expected_high": detail["expected_high"].to_numpy()}
    for name, values in columns.items():
        target = np.empty(len(runs), dtype=values.dtype)
        target[rows] = values
        out[name] = target
    return out
