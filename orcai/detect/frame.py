"""Checking the runs DataFrame and putting it in the order every detector works in."""

from __future__ import annotations

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("dag_id", "task_id", "run_id", "start_date", "duration_s", "state")
OPTIONAL_COLUMNS = ("queued_s", "try_number", "run_type", "logical_date")
OUTPUT_COLUMNS = ("is_anomaly", "score", "reason", "kind", "severity", "detector",
                  "expected_s", "expected_low", "expected_high", "scope")
SUCCESS = "success"
FAILED_STATES = ("failed",)
UNFINISHED_STATES = ("running", "queued", "scheduled", "up_for_retry", "up_for_reschedule",
                     "deferred", "restarting")
NS_PER_S = 1_000_000_000
# Durations are floored before the log (a 0 s run has no log). The floor is 1 s, or 1 % of
# the task's typical duration when that is smaller: below it every run "did nothing" alike.
# A fixed 1 s floor made every value under 1 the same number, so a task (or a metric in
# another unit) whose values all sit below 1 could never be flagged.
FLOOR_S, FLOOR_SHARE, FLOOR_RUNS, ZERO_MARGIN = 1.0, 0.01, 30, 0.25


def validate_runs(runs: pd.DataFrame) -> None:
    """Raise ValueError naming what is wrong with `runs`; return quietly when it will do."""
    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"runs must be a pandas DataFrame, not {type(runs).__name__}")
    missing = [column for column in REQUIRED_COLUMNS if column not in runs.columns]
    if missing:
        raise ValueError(f"runs is missing column(s) {', '.join(missing)}; detect needs "
                         f"{', '.join(REQUIRED_COLUMNS)}")
    for column in ("start_date", "logical_date"):
        if column in runs.columns and not _is_utc_timestamps(runs[column]):
            raise ValueError(f"column {column} must hold tz-aware UTC pandas Timestamps "
                             f"(got dtype {runs[column].dtype})")
    if not _numeric_or_missing(runs["duration_s"]):
        raise ValueError(f"column duration_s must be numeric seconds (got dtype {runs['duration_s'].dtype})")


def _numeric_or_missing(column: pd.Series) -> bool:
    """Numbers, possibly with gaps: a column of Python floats and None (records with an
    unknown duration) is object-typed in pandas but is as good as a float column."""
    if pd.api.types.is_numeric_dtype(column):
        return True
    return pd.api.types.infer_dtype(column, skipna=True) in ("integer", "floating", "mixed-integer-float", "empty")


def _is_utc_timestamps(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.DatetimeTZDtype) and str(column.dt.tz) in ("UTC", "utc")


def prepare_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The columns detectors use, one row per run, sorted by task then start time.

    `row` is the run's position in `runs`; `task` and `dag` are integer codes."""
    task_codes = runs.groupby(["dag_id", "task_id"], sort=False, observed=True).ngroup().to_numpy()
    dag_codes = runs.groupby("dag_id", sort=False, observed=True).ngroup().to_numpy()
    run_codes = runs.groupby(["dag_id", "run_id"], sort=False, observed=True).ngroup().to_numpy()
    state = runs["state"].astype("string").fillna("").to_numpy()
    duration = runs["duration_s"].to_numpy(dtype=float, na_value=np.nan)
    # an infinite duration is no measurement (a broken exporter, a division by zero upstream):
    # judged like a missing one. Kept, it was "slow" at score 300 with "took an unknown time,
    # inf×" as its reason (or "fast" for -inf), and its value stored as inf
    duration = np.where(np.isfinite(duration), duration, np.nan)
    frame = pd.DataFrame({
        "row": np.arange(len(runs)), "task": task_codes, "dag": dag_codes, "run": run_codes,
        "start_ns": _epoch_ns(runs["start_date"]), "duration": duration,
        "success": state == SUCCESS, "failed": np.isin(state, FAILED_STATES),
        "unfinished": np.isin(state, UNFINISHED_STATES),
    })
    frame = frame.sort_values(["task", "start_ns", "row"], kind="stable", ignore_index=True)
    frame["outcome"] = run_outcomes(frame)
    frame["floor"] = task_floors(frame)
    log_durations(frame)
    return frame


def run_outcomes(frame: pd.DataFrame) -> np.ndarray:
    """Per row (frame sorted by task, then time): whether it is its task's outcome in its DAG
    run, the one row failure streaks and rates count. A mapped task's instances (one row
    each, same run) are one run of the task, failed when any instance failed, as Airflow
    judges the mapped task: its first failed instance, else its first finished one. Counted
    per instance, one run with three failed instances was "failed 3 times in a row"."""
    finished = frame[(frame["success"] | frame["failed"]).to_numpy()]
    first = finished.sort_values("failed", ascending=False, kind="stable").drop_duplicates(["task", "run"]).index
    return frame.index.isin(first)


def task_floors(frame: pd.DataFrame) -> np.ndarray:
    """Per row (frame sorted by task, then time): FLOOR_S, or FLOOR_SHARE of the median of
    the task's first FLOOR_RUNS positive successful durations when that is smaller. Where
    some of those first runs were 0 or less (a count that is often 0, a signed metric), 0 is
    part of the task's normal and the log of small values means nothing: the floor rises to
    the value that a further ZERO_MARGIN (a quarter) of its first runs stay below. The first runs only:
    they are before any run is judged (min_history), so no verdict sees the future through
    its floor."""
    duration = frame["duration"].to_numpy()
    usable = frame["success"].to_numpy() & np.isfinite(duration)
    rows = frame[usable]
    early = rows[rows.groupby("task").cumcount().to_numpy() < FLOOR_RUNS]
    typical = early["duration"].where(early["duration"] > 0).groupby(early["task"]).median()
    floor = (typical * FLOOR_SHARE).clip(upper=FLOOR_S)
    # a count (whole numbers only) has no value between 0 and its unit, 1: with the floor at
    # 1 % of the median, a 0 of a count around 4 was "100x faster" and flagged as "did
    # nothing" every time it came (2 % of Poisson(4): 9 flags per 1,000 points on pure noise
    # when no 0 fell in the first runs). At one unit, a 0 is 1/median: "did nothing" from a
    # median of 10 up, where a 0 is rare for a count (Poisson(10): 5 in 100,000)
    counts = early["duration"].eq(np.round(early["duration"])).groupby(early["task"]).all()
    floor = floor.where(~counts.reindex(floor.index, fill_value=False), np.fmax(floor, 1.0))
    above_zeros = _above_zeros(early["task"].to_numpy(), early["duration"].to_numpy())
    floor = np.fmax(floor, above_zeros.reindex(floor.index))
    floor = floor.where(floor > 0, FLOOR_S)  # nothing positive to measure by: the fixed floor
    return frame["task"].map(floor).fillna(FLOOR_S).to_numpy(dtype=float)


def _above_zeros(task: np.ndarray, values: np.ndarray) -> pd.Series:
    """Per task with values <= 0: the quantile at (their share + ZERO_MARGIN) of its values."""
    order = np.lexsort((values, task))
    task, values = task[order], values[order]
    first = np.r_[0, np.flatnonzero(np.diff(task)) + 1]
    count = np.diff(np.r_[first, len(task)])
    zeros = np.add.reduceat((values <= 0).astype(int), first) if len(task) else np.zeros(0, int)
    share = np.minimum(1.0, zeros / np.maximum(count, 1) + ZERO_MARGIN)
    picked = values[first + np.floor(share * (count - 1)).astype(int)] if len(task) else np.zeros(0)
    return pd.Series(np.where(zeros > 0, picked, np.nan), index=task[first] if len(task) else [])


def log_durations(frame: pd.DataFrame) -> None:
    """x: log seconds over the task's floor (see FLOOR_S)."""
    frame["x"] = np.log(np.maximum(frame["duration"].to_numpy(), frame["floor"].to_numpy()))  # NaN stays NaN


def _epoch_ns(column: pd.Series) -> np.ndarray:
    return column.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(
        dtype="datetime64[ns]").astype(np.int64)


def empty_output(runs: pd.DataFrame, detector: str) -> pd.DataFrame:
    """`runs` with every output column, nothing flagged."""
    out = runs.copy()
    out["is_anomaly"] = np.zeros(len(runs), dtype=bool)
    out["score"] = 0.0
    for column in ("reason", "kind", "severity", "scope"):
        out[column] = ""
    out["detector"] = detector
    for column in ("expected_s", "expected_low", "expected_high"):
        out[column] = np.nan
    return out


def fill_elapsed(frame: pd.DataFrame, now: pd.Timestamp) -> None:
    """Unfinished runs without a duration have been running since they started."""
    open_runs = frame["unfinished"].to_numpy() & ~np.isfinite(frame["duration"].to_numpy())
    elapsed = (pd.Timestamp(now).value - frame["start_ns"].to_numpy()) / NS_PER_S
    frame.loc[open_runs, "duration"] = elapsed[open_runs]
    log_durations(frame)
    frame.loc[~(frame["success"] | frame["failed"] | frame["unfinished"]), "x"] = np.nan
