"""Late and missing scheduled runs, judged per DAG from its schedule.

A DAG run is represented by its earliest task run. Its scheduled time is `logical_date`
when given (the grid Airflow schedules on), otherwise its start. The interval between
runs comes from `schedules` (dag_id -> seconds, e.g. `orcai.schedules.schedule_interval_s`
of the DAG's timetable); without one it is inferred from the gaps seen before each run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orcai.detect.frame import NS_PER_S
from orcai.detect.windows import GroupRolling

DAY_S, WEEK_S = 86_400, 604_800


def dag_runs(runs: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per scheduled DAG run: frame row of its first task run, times in ns."""
    first = frame.sort_values(["start_ns", "row"], kind="stable")
    original = runs.iloc[first["row"].to_numpy()]
    table = pd.DataFrame({
        "frame_row": first.index.to_numpy(), "dag": first["dag"].to_numpy(),
        "dag_id": original["dag_id"].to_numpy(), "run": first["run"].to_numpy(),
        "start_ns": first["start_ns"].to_numpy(),
    })
    if "try_number" in runs.columns:  # a retried first task started late for its own reasons
        table["first_try"] = (original["try_number"].fillna(1) <= 1).to_numpy()
    if "logical_date" in runs.columns:
        logical = original["logical_date"]
        table["logical_ns"] = np.where(logical.isna(), -1, _ns(logical))
    if "run_type" in runs.columns:  # manual and backfill runs are off the grid
        scheduled = original["run_type"].isna().to_numpy() | (original["run_type"] == "scheduled").to_numpy()
        table = table[scheduled]
    table = table.drop_duplicates("run", keep="first")
    time_ns = table["logical_ns"].where(table["logical_ns"] >= 0, table["start_ns"]) \
        if "logical_ns" in table else table["start_ns"]
    table = table.assign(time_ns=time_ns.to_numpy())
    return table.sort_values(["dag", "time_ns"], kind="stable", ignore_index=True)


def _ns(column: pd.Series) -> np.ndarray:
    return column.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(
        dtype="datetime64[ns]").astype(np.int64)


def interval_s(table: pd.DataFrame, schedules: dict[str, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Seconds between scheduled runs per DAG run, and whether missing runs may be judged
    on it. The interval is the given schedule, else the median of the 20 earlier gaps. It
    is trusted for missing runs only when given, or when the runs carry logical dates (a
    schedule grid) whose last 20 gaps were all the same to the second."""
    gaps = table.groupby("dag")["time_ns"].diff() / NS_PER_S
    rolling = GroupRolling(gaps, [table["dag"]], 20, 3)
    inferred = rolling.median().groupby(table["dag"]).shift(1)
    spread = (rolling.max() + GroupRolling(-gaps, [table["dag"]], 20, 3).max()).groupby(table["dag"]).shift(1)
    count = rolling.count().groupby(table["dag"]).shift(1)
    given = table["dag_id"].map(schedules or {}).astype(float)
    regular = (spread <= 1.0) & (count >= 10) & ("logical_ns" in table)
    return given.fillna(inferred).to_numpy(), (given.notna() | regular).to_numpy()


def missed_runs(gap_s: np.ndarray, interval: np.ndarray, trusted: np.ndarray, params) -> np.ndarray:
    """Scheduled runs missed in a gap: only on a trusted interval, when the gap is a whole
    number of intervals (else the schedule changed) and not a pause (too many missed)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        steps = gap_s / interval
        on_grid = np.abs(steps - np.round(steps)) <= 0.05
        missed = np.where(np.isfinite(steps) & (interval > 0) & trusted & on_grid, np.round(steps) - 1, 0)
    missed = np.nan_to_num(missed)
    return np.where(missed <= params.missing_max_runs, np.maximum(missed, 0), 0)


def schedule_verdicts(runs: pd.DataFrame, frame: pd.DataFrame, schedules, params) -> pd.DataFrame:
    """Per DAG run: scheduled runs missed since the previous one, and how late it started."""
    table = dag_runs(runs, frame)
    interval, trusted = interval_s(table, schedules)
    gap_s = (table.groupby("dag")["time_ns"].diff() / NS_PER_S).to_numpy()
    table["interval_s"], table["trusted"] = interval, trusted
    table["missed"] = missed_runs(gap_s, interval, trusted, params)
    table["prev_ns"] = table.groupby("dag")["time_ns"].shift(1)
    table["missing"] = table["missed"] >= 1
    table["late"] = False
    if "logical_ns" in table:
        table = _lateness(table, params)
    return table


def _lateness(table: pd.DataFrame, params) -> pd.DataFrame:
    """Start delay after the logical date, against the delays of the DAG's earlier runs."""
    delay = (table["start_ns"] - table["logical_ns"]) / NS_PER_S
    delay = delay.where(table["logical_ns"] >= 0)
    usual = GroupRolling(delay, [table["dag"]], params.window).median()
    count = GroupRolling(delay, [table["dag"]], params.window).count()
    usual = usual.groupby(table["dag"]).shift(1)
    count = count.groupby(table["dag"]).shift(1).fillna(0)
    return late_rule(table, delay, usual, count, params)


def late_rule(table: pd.DataFrame, delay: pd.Series, usual: pd.Series, count: pd.Series, params) -> pd.DataFrame:
    """Late: started more than a tolerance after the DAG's usual delay, on its first try."""
    tolerance = np.maximum(params.late_min_s, params.late_share * table["interval_s"].fillna(0))
    table["delay_s"], table["usual_delay_s"], table["late_tolerance_s"] = delay, usual, tolerance
    first_try = table["first_try"] if "first_try" in table else True
    table["late"] = ((count >= params.min_history) & (delay - usual > tolerance) & first_try).to_numpy()
    table["late_score"] = (params.surprise_threshold * (delay - usual) / tolerance).fillna(0).to_numpy()
    return table


def season_buckets(frame: pd.DataFrame, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Hour of day for DAGs that run more than daily, day of week for daily ones, else none."""
    interval = pd.Series(table["interval_s"].to_numpy(), index=table["run"].to_numpy())
    interval = interval[~interval.index.duplicated()]
    per_row = interval.reindex(frame["run"].to_numpy()).to_numpy()
    moment = pd.to_datetime(frame["start_ns"].to_numpy(), utc=True)
    hourly = per_row < DAY_S
    weekly = (per_row >= DAY_S) & (per_row < WEEK_S)
    bucket = np.where(hourly, moment.hour, np.where(weekly, 100 + moment.day_of_week, -1))
    kind = np.where(hourly, "hour", np.where(weekly, "weekday", ""))
    return bucket, kind
