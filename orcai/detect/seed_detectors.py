"""The seed's two detectors, kept selectable for comparison: IsolationForest and DBSCAN.

Their features are causal (each run against its task's earlier runs), but the models
are fitted on the whole batch they score, as the seed did: they see the batch's future.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import DBSCAN
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler

from orcai.detect.windows import GroupRolling
from orcai.detect.frame import empty_output, prepare_runs, validate_runs
from orcai.detect.reasons import format_duration, format_ratio
from orcai.detect.verdicts import write_output


def run_features(runs: pd.DataFrame, frame: pd.DataFrame, window: int = 30) -> pd.DataFrame:
    """log duration, its distance from the task's median over the previous runs, log queue
    time, try number and whether it failed: one row per frame row."""
    finished = frame["success"] | frame["failed"]
    x = frame["x"].where(finished)
    median = GroupRolling(x, [frame["task"]], window).median()
    median = median.groupby(frame["task"]).shift(1).ffill()
    original = runs.iloc[frame["row"].to_numpy()]
    queued = original["queued_s"] if "queued_s" in runs else pd.Series(0.0, index=original.index)
    tries = original["try_number"] if "try_number" in runs else pd.Series(1, index=original.index)
    return pd.DataFrame({
        "log_duration": x.fillna(0.0).to_numpy(),
        "vs_median": (x - median).fillna(0.0).to_numpy(),
        "log_queued": np.log1p(queued.astype(float).fillna(0.0).clip(lower=0)).to_numpy(),
        "try_number": tries.astype(float).fillna(1.0).to_numpy(),
        "failed": frame["failed"].astype(float).to_numpy(),
        "median": np.exp(median).to_numpy(),
    }, index=frame.index)


class _SeedDetector:
    """Shared scoring: flag outliers, explain them with the run's own numbers."""

    name, version = "seed", "1.0"

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"

    def fit(self, runs=None, y=None, **_):
        return self

    def score(self, runs: pd.DataFrame, schedules=None, now=None) -> pd.DataFrame:
        validate_runs(runs)
        if runs.empty:
            return empty_output(runs, self.label)
        frame = prepare_runs(runs)
        features = run_features(runs, frame)
        flagged, score = self._outliers(frame, features)
        detail = features.assign(row=frame["row"].to_numpy(), duration=frame["duration"].to_numpy(), score=score,
                                 kind=np.where(flagged, "outlier", ""))
        detail["expected_s"] = detail["median"]
        detail["expected_low"] = detail["expected_high"] = np.nan
        out = write_output(runs, detail.assign(kind=""), self.label, 0.0)
        rows = frame["row"].to_numpy()[flagged]
        out.iloc[rows, out.columns.get_loc("is_anomaly")] = True
        out.iloc[rows, out.columns.get_loc("kind")] = "outlier"
        out.iloc[rows, out.columns.get_loc("scope")] = "task_run"
        out.iloc[rows, out.columns.get_loc("severity")] = "low"
        out.iloc[rows, out.columns.get_loc("reason")] = [
            self._reason(row) for row in detail[flagged].itertuples(index=False)]
        return out

    def _reason(self, row) -> str:
        ratio = row.duration / row.median if row.median > 0 else np.nan
        state = "failed after" if row.failed else "took"
        return (f"{self.description}: {state} {format_duration(row.duration)}"
                + (f", {format_ratio(ratio)} its median of {format_duration(row.median)}"
                   if np.isfinite(ratio) else ""))


class IsolationForestDetector(_SeedDetector):
    name, description = "isolation_forest", "IsolationForest marks this run as an outlier among all runs"

    def __init__(self, contamination: float = 0.1, n_estimators: int = 100, random_state: int = 0):
        self.contamination, self.n_estimators, self.random_state = contamination, n_estimators, random_state

    def _outliers(self, frame, features):
        values = StandardScaler().fit_transform(features.drop(columns=["median"]))
        model = IsolationForest(contamination=self.contamination, n_estimators=self.n_estimators,
                                random_state=self.random_state).fit(values)
        return model.predict(values) == -1, -model.score_samples(values)


class DBSCANDetector(_SeedDetector):
    name, description = "dbscan", "DBSCAN leaves this run outside every cluster of its task's runs"

    def __init__(self, eps: float = 0.5, min_samples: int = 5):
        self.eps, self.min_samples = eps, min_samples

    def _outliers(self, frame, features):
        """Clusters per task (a global DBSCAN on a million runs would not fit in memory)."""
        flagged = np.zeros(len(frame), dtype=bool)
        columns = ["log_duration", "log_queued", "failed"]
        for _, index in frame.groupby("task").indices.items():
            if len(index) <= self.min_samples:
                continue
            values = StandardScaler().fit_transform(features[columns].to_numpy()[index])
            labels = DBSCAN(eps=self.eps, min_samples=self.min_samples).fit_predict(values)
            flagged[index] = labels == -1
        return flagged, flagged.astype(float)
