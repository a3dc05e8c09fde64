"""Detection in the product: score new runs after each sync, store what is anomalous.

The worker keeps one fitted detector. Every `detect_refit_min` minutes it scores the
whole lookback window exactly and refits the baselines; in between it scores only runs
that finished (or are still running) since the last judged one, so each sync costs
little. Each anomaly is an `Anomaly` node with a deterministic key (kind + run), linked
with FLAGS to the run it flags: re-detection updates it, never duplicates it, and an
operator's acknowledgement or false-positive mark is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from orcai.anomalies.baselines import BAND_HISTORY, dag_run_frame, latest_bands
from orcai.anomalies.frames import anomaly_records, runs_frame, window_frame
from orcai.anomalies.review import apply_tolerance
from orcai.config import Settings
from orcai.detect import make_detector
from orcai.graph import Graph
from orcai.graph import anomaly_store, dag_store, run_store
from orcai.model import DAY_MS, MINUTE_MS, task_key
from orcai.schedules import known_interval_s

log = logging.getLogger(__name__)

# Re-read runs that ended this long before the watermark: a run's end can be written by
# Airflow slightly after a later run's end was already synced.
WATERMARK_OVERLAP_MS = 120_000


@dataclass
class DetectionReport:
    judged: int = 0
    flagged: int = 0
    refitted: bool = False


class AnomalyMonitor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.detector = None
        self.fitted_at_ms = 0
        self.watermark_ms: int | None = None  # end of the newest run already judged
        self.window_runs = 0  # task runs in the lookback window at the last judgement

    def schedules(self, graph: Graph) -> dict[str, float]:
        """Seconds between scheduled runs of each DAG whose schedule is known: late and missing
        runs are judged only against a schedule Airflow states (not asset-triggered, manual
        or custom timetables, which the detector may still infer from a regular grid)."""
        intervals = {row["dag_id"]: known_interval_s(row["schedule"]) for row in dag_store.dag_schedules(graph)}
        return {dag_id: float(s) for dag_id, s in intervals.items() if s is not None}

    def _detector(self):
        """A fresh detector of the configured kind; the robust one at ORCAI_DETECT_RISK."""
        if self.settings.detector == "robust":
            return make_detector("robust", risk=self.settings.detect_risk)
        return make_detector(self.settings.detector)

    def refit_due(self, now_ms: int) -> bool:
        return (self.detector is None or self.settings.detector != "robust"
                or now_ms - self.fitted_at_ms > self.settings.detect_refit_min * MINUTE_MS)

    def _store_bands(self, graph: Graph, window: pd.DataFrame, scored: pd.DataFrame, detector,
                     since: int, dag_ids: list[str] | None, now: pd.Timestamp) -> None:
        """Keep the band each task (and each DAG's whole runs) was judged with, for the pages."""
        at = int(now.timestamp() * 1000)
        keys = pd.Series([task_key(d, t) for d, t in zip(window["dag_id"], window["task_id"])])
        bands = latest_bands(scored, keys, at, detector.label, anomaly_store.task_tolerances(graph))
        anomaly_store.write_bands(graph, "Task", bands, BAND_HISTORY)
        whole_runs = dag_run_frame(run_store.dag_run_durations(graph, since, dag_ids))
        if len(whole_runs):
            judged = self._detector().score(whole_runs, now=now)
            bands = latest_bands(judged, whole_runs["dag_id"], at, detector.label)
            anomaly_store.write_bands(graph, "Dag", bands, BAND_HISTORY)

    def run(self, graph: Graph, now_ms: int) -> DetectionReport:
        """Judge the runs new since the last cycle; store the anomalous ones."""
        since = now_ms - self.settings.detect_lookback_days * DAY_MS
        first_cycle = self.watermark_ms is None
        ended_after = None if first_cycle else self.watermark_ms - WATERMARK_OVERLAP_MS
        now = pd.Timestamp(now_ms, unit="ms", tz="UTC")
        shard = self.settings.dag_shard  # a sharded worker judges only its own DAGs' runs
        dag_ids = None if shard.is_whole else dag_store.owned_dag_ids(graph, shard)
        window_runs = run_store.task_runs_started_since(graph, since, dag_ids)
        # Many more runs than the syncs brought since last time: history was backfilled
        # (`make simulate`, a restored graph), so judge the whole window now.
        backfilled = window_runs > 1.5 * self.window_runs + 100
        self.window_runs = window_runs
        report = DetectionReport(refitted=self.refit_due(now_ms) or backfilled)
        fitted = None
        if report.refitted:
            # Score the whole window exactly (each run on the runs before it) and store every
            # verdict: history that arrived late (a backfill, `make simulate`) is judged too,
            # and stored anomalies are merged, not duplicated. Then fit the baselines that
            # the cycles until the next refit reuse.
            window = window_frame(graph, since, now_ms, dag_ids=dag_ids)
            if window.empty:
                return report
            schedules = self.schedules(graph)
            detector = self._detector()
            scored = detector.score(window.drop(columns=["key", "end_date"]), schedules=schedules, now=now)
            new = window
            if self.settings.detector == "robust":
                fitted = detector.fit(window[window["end_date"].notna()].drop(columns=["key", "end_date"]),
                                      schedules=schedules)
            self._store_bands(graph, window, scored, detector, since, dag_ids, now)
        else:
            new = runs_frame(run_store.task_run_history(graph, since, ended_after, dag_ids=dag_ids))
            if new.empty:
                return report
            # the schedule state moves past these runs only once their anomalies are stored:
            # if storing fails, the next cycle re-reads them and flags them again
            scored = self.detector.score_new(new.drop(columns=["key", "end_date"]), now=now, commit=False)
        scored = scored.assign(key=new["key"].to_numpy(), duration_s=new["duration_s"].to_numpy())
        flagged = apply_tolerance(scored[scored["is_anomaly"]], anomaly_store.task_tolerances(graph))
        anomaly_store.load_anomalies(graph, anomaly_records(flagged, now_ms))
        # Only now, with the verdicts stored, does the worker move on: a refit whose store
        # failed is done again next cycle, and a fit that counts these runs as judged
        # would otherwise drop their unstored verdicts until the refit after.
        if report.refitted:
            self.detector, self.fitted_at_ms = fitted or self.detector, now_ms
        else:
            self.detector.commit()
        finished = new["end_date"].dropna()
        self.watermark_ms = max(self.watermark_ms or 0, int(finished.max()) if len(finished) else 0)
        report.judged, report.flagged = len(new), len(flagged)
        return report
