"""Anomaly detection on Airflow run history: flags with reasons in plain words.

    from orcai.detect import detect
    flagged = detect(runs)                       # the default robust detector
    flagged = detect(runs, detector="isolation_forest")

`runs` has one row per task run: dag_id, task_id, run_id, start_date (tz-aware UTC),
duration_s, state; optional queued_s, try_number, run_type, logical_date. The result is
the same rows plus is_anomaly, score (higher = more anomalous), reason (empty when
normal), kind, severity, detector, expected_s / expected_low / expected_high (seconds)
and scope ('task_run' or 'dag_run'). Pure functions: no I/O.
"""

from __future__ import annotations

import pandas as pd

from orcai.detect.baseline import RobustDetector
from orcai.detect.frame import OUTPUT_COLUMNS, REQUIRED_COLUMNS
from orcai.detect.seed_detectors import DBSCANDetector, IsolationForestDetector

DETECTORS = {"robust": RobustDetector, "isolation_forest": IsolationForestDetector,
             "dbscan": DBSCANDetector}

__all__ = ["detect", "score_new", "make_detector", "DETECTORS", "RobustDetector",
           "IsolationForestDetector", "DBSCANDetector",
           "OUTPUT_COLUMNS", "REQUIRED_COLUMNS"]


def make_detector(name: str = "robust", **params):
    """A detector by name with its parameters; ValueError lists the names on a typo."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name](**params)


def detect(runs: pd.DataFrame, detector: str = "robust", schedules: dict[str, float] | None = None,
           now: pd.Timestamp | None = None, **params) -> pd.DataFrame:
    """Judge every run on the runs of its task and DAG before it.

    schedules: dag_id -> seconds between scheduled runs (late / missing runs and the
    seasonality choice); inferred from earlier gaps when absent. now: fills in the
    elapsed time of unfinished runs (stuck). Other keywords are detector parameters."""
    return make_detector(detector, **params).score(runs, schedules=schedules, now=now)


def score_new(history: pd.DataFrame, new_runs: pd.DataFrame, schedules: dict[str, float] | None = None,
              now: pd.Timestamp | None = None, **params) -> pd.DataFrame:
    """Judge only `new_runs` (one sync's worth) against baselines fitted on `history`.
    A worker that keeps `RobustDetector(**params).fit(history, schedules=...)` between
    syncs and calls its `score_new(new_runs)` skips the fit each time."""
    return RobustDetector(**params).fit(history, schedules=schedules).score_new(new_runs, now=now)
