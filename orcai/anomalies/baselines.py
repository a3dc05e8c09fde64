"""The band the worker judged with, stored so every page draws the same verdict.

At each refit the worker keeps, per task (and per DAG for whole-run durations), the
expected band of its newest run: the median and the range a normal run stays inside at
the stated false-alarm risk, the top widened by the task's false-positive tolerance. A
short history of those bands is kept on the node; a page draws, for each run, the band
that was in force when the run started. Pure functions; the graph I/O is in
`orcai.graph.anomaly_store`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orcai.anomalies.frames import stored_number

BAND_HISTORY = 200  # bands kept per task: at one refit every 15 min, two days of them
WHOLE_RUN = "(whole run)"  # the task id whole DAG-run durations are judged under


def latest_bands(scored: pd.DataFrame, keys: pd.Series, fitted_at_ms: int, detector: str,
                 tolerances: dict[str, float] | None = None) -> list[dict]:
    """One band per key: the expected band of the key's newest run with a band.
    `scored` is the detector's output (start_date, expected_s/low/high)."""
    frame = pd.DataFrame({"key": keys.astype(str).to_numpy(), "start": scored["start_date"].to_numpy(),
                          "median": scored["expected_s"].to_numpy(), "low": scored["expected_low"].to_numpy(),
                          "high": scored["expected_high"].to_numpy()})
    frame = frame[np.isfinite(frame["low"].astype(float)) & np.isfinite(frame["high"].astype(float))]
    newest = frame.sort_values("start", kind="stable").groupby("key", sort=False).tail(1)
    tolerances = tolerances or {}
    return [{"key": row.key, "at": fitted_at_ms, "median": stored_number(row.median),
             "low": stored_number(row.low),
             "high": stored_number(float(row.high) * max(1.0, tolerances.get(row.key, 1.0))),
             "detector": detector} for row in newest.itertuples(index=False)]


def band_at_runs(starts: pd.Series, history: list[list] | None) -> pd.DataFrame:
    """For each run start (UTC timestamps), the stored band in force then: the newest band
    fitted at or before it, else the oldest one (history fitted after the run: the first
    refit judged the whole window with it). Columns expected_s, expected_low, expected_high."""
    empty = pd.DataFrame({"expected_s": np.nan, "expected_low": np.nan, "expected_high": np.nan},
                         index=starts.index)
    if not history or starts.empty:
        return empty
    bands = pd.DataFrame(history, columns=["at", "median", "low", "high"]).sort_values("at")
    bands["at"] = pd.to_datetime(bands["at"], unit="ms", utc=True)
    runs = pd.DataFrame({"start": pd.to_datetime(starts, utc=True), "order": np.arange(len(starts))})
    runs = runs.sort_values("start")
    merged = pd.merge_asof(runs, bands, left_on="start", right_on="at", direction="backward")
    first = bands.iloc[0]
    for column, value in (("median", first["median"]), ("low", first["low"]), ("high", first["high"])):
        merged[column] = merged[column].fillna(value)
    merged = merged.sort_values("order")
    return pd.DataFrame({"expected_s": merged["median"].to_numpy(), "expected_low": merged["low"].to_numpy(),
                         "expected_high": merged["high"].to_numpy()}, index=starts.index)


def dag_run_frame(rows: list[dict]) -> pd.DataFrame:
    """DAG runs (run_store.dag_run_durations rows) as detector input, one pseudo-task per DAG."""
    frame = pd.DataFrame(rows, columns=["dag_id", "run_id", "start_date", "duration_s", "state"])
    frame["task_id"] = WHOLE_RUN
    frame["start_date"] = pd.to_datetime(pd.to_numeric(frame["start_date"], errors="coerce"), unit="ms", utc=True)
    frame["duration_s"] = pd.to_numeric(frame["duration_s"], errors="coerce").astype(float)
    frame = frame.dropna(subset=["start_date"])
    return frame[["dag_id", "task_id", "run_id", "start_date", "duration_s", "state"]].reset_index(drop=True)
