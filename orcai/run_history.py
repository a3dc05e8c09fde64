"""One DAG's run history as a state grid, a duration trend with
the expected band the worker stored, per-task duration spreads and a Gantt chart of one run.

`load_run_history` reads the graph (three bounded queries); everything else is a pure
function over rows and DataFrames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from orcai.anomalies.baselines import band_at_runs
from orcai.graph import Graph
from orcai.graph import anomaly_store, dag_store, incident_store, run_store
from orcai.incidents.breakdown import breakdown
from orcai.incidents.stage import timing

# When a mapped task's instances disagree, the grid shows the state that needs attention.
STATE_PRIORITY = ("failed", "upstream_failed", "up_for_retry", "restarting", "running", "queued",
                  "scheduled", "deferred", "up_for_reschedule", "skipped", "removed", "success")
RUN_COLUMNS = ["key", "run_id", "state", "run_type", "at", "logical_date", "queued_at", "start_date",
               "end_date", "duration_s", "eta_p50", "eta_p80", "forecast_tasks"]
TASK_RUN_COLUMNS = ["run_id", "task_id", "map_index", "state", "try_number", "start_date", "end_date",
                    "duration_s", "queued_s"]


@dataclass(frozen=True)
class RunHistory:
    dag_id: str
    runs: pd.DataFrame        # one row per DAG run, newest first (RUN_COLUMNS + queued_s, anomalies)
    task_runs: pd.DataFrame   # every task run of those runs
    task_ids: list[str]       # the DAG's tasks, also those that never ran
    anomalies: pd.DataFrame   # stored anomalies on those runs
    truncated: bool           # the limit cut the window short
    bands: list = field(default_factory=list)  # the worker's whole-run bands: [[at, median, low, high]]


def load_run_history(graph: Graph, dag_id: str, since_ms: int, until_ms: int, limit: int,
                     states: list[str] | None = None, run_types: list[str] | None = None) -> RunHistory:
    """One DAG's runs in the window (filtered by state and run type), their task runs and anomalies."""
    rows = run_store.dag_runs(graph, dag_id, since_ms, until_ms, limit, states or None, run_types or None)
    anomalies = pd.DataFrame(anomaly_store.dag_run_anomalies(graph, dag_id, since_ms),
                             columns=["run_id", "task_id", "kind", "severity", "reason", "status"])
    runs = runs_table(rows, anomalies)
    task_runs = task_runs_table(run_store.task_runs_of(graph, runs["key"].tolist()) if len(runs) else [])
    return RunHistory(dag_id, runs, task_runs, dag_store.dag_task_ids(graph, dag_id), anomalies,
                      truncated=len(rows) >= limit, bands=anomaly_store.band_history(graph, "Dag", dag_id))


def _times(values) -> pd.Series:
    return pd.to_datetime(pd.to_numeric(pd.Series(values, dtype="object"), errors="coerce"), unit="ms", utc=True)


def runs_table(rows: list[dict], anomalies: pd.DataFrame) -> pd.DataFrame:
    """DAG runs with UTC timestamps, time spent queued, and their anomaly count and reasons."""
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for column in ("at", "logical_date", "queued_at", "start_date", "end_date", "eta_p50", "eta_p80"):
        table[column] = _times(table[column])
    table["duration_s"] = pd.to_numeric(table["duration_s"], errors="coerce").astype(float)
    table["queued_s"] = (table["start_date"] - table["queued_at"]).dt.total_seconds().clip(lower=0)
    by_run = anomalies.groupby("run_id")["reason"] if len(anomalies) else None
    table["anomalies"] = table["run_id"].map(by_run.size() if by_run is not None else {}).fillna(0).astype(int)
    # object first: with no anomaly the mapped column is float NaN, and pandas 4 refuses "" in it
    table["anomaly_reasons"] = table["run_id"].map(
        by_run.agg(" · ".join) if by_run is not None else {}).astype(object).fillna("")
    return table


def task_runs_table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=TASK_RUN_COLUMNS)
    for column in ("start_date", "end_date"):
        table[column] = _times(table[column])
    for column in ("duration_s", "queued_s"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return table


def worst_state(states: pd.Series) -> str | None:
    present = set(states.dropna())
    return next((s for s in STATE_PRIORITY if s in present), next(iter(sorted(present)), None))


def run_labels(runs: pd.DataFrame) -> pd.Series:
    """Short, unique column names for runs: the due time to the minute, numbered when
    several runs share it (a manual run triggered next to a scheduled one)."""
    label = runs["at"].dt.strftime("%m-%d %H:%M").fillna(runs["run_id"])
    seen = label.groupby(label).cumcount()
    return label.where(seen == 0, label + " (" + (seen + 1).astype(str) + ")")


def state_grid(history: RunHistory, max_runs: int) -> pd.DataFrame:
    """Tasks × the newest `max_runs` runs (oldest left, like Airflow's Grid); cells are states."""
    runs = history.runs.head(max_runs).iloc[::-1]
    labels = dict(zip(runs["run_id"], run_labels(runs)))
    cells = history.task_runs[history.task_runs["run_id"].isin(labels)]
    grid = (cells.groupby(["task_id", "run_id"])["state"].agg(worst_state).unstack("run_id")
            if len(cells) else pd.DataFrame())
    grid = grid.reindex(index=task_order(history.task_ids, cells), columns=list(labels)).rename(columns=labels)
    grid.index.name = "task"
    return grid.astype("object").where(grid.notna(), None)


def task_order(task_ids: list[str], task_runs: pd.DataFrame) -> list[str]:
    """Tasks in the order they usually run (mean start rank within a run), so upstream
    tasks come first as in Airflow's Grid; tasks that never ran go last, by name."""
    ran = task_runs.dropna(subset=["start_date"])
    if ran.empty:
        return list(dict.fromkeys(task_ids))
    rank = ran.groupby("run_id")["start_date"].rank(method="min")
    usual = rank.groupby(ran["task_id"]).mean().sort_values(kind="stable")
    return list(dict.fromkeys(list(usual.index) + sorted(task_ids)))


def gantt_rows(task_runs: pd.DataFrame, run_id: str, forecast_tasks: str | None = None) -> pd.DataFrame:
    """One run's task runs as bars: time queued, then time running, coloured by state; and
    for a run still going, the worker's forecast of the tasks not finished yet
    (`forecast_tasks`: JSON {task: [start ms, end ms]} from the median replay)."""
    rows = task_runs[(task_runs["run_id"] == run_id) & task_runs["start_date"].notna()]
    bars = []
    for tr in rows.sort_values("start_date").itertuples():
        name = tr.task_id if pd.isna(tr.map_index) or tr.map_index < 0 else f"{tr.task_id}[{int(tr.map_index)}]"
        end = tr.end_date if pd.notna(tr.end_date) else tr.start_date + pd.to_timedelta(tr.duration_s or 0, unit="s")
        if tr.queued_s and tr.queued_s > 0:
            bars.append({"task": name, "task_id": tr.task_id, "phase": "queued", "state": "queued",
                         "start": tr.start_date - pd.to_timedelta(tr.queued_s, unit="s"),
                         "end": tr.start_date, "seconds": tr.queued_s})
        bars.append({"task": name, "task_id": tr.task_id, "phase": "running", "state": tr.state,
                     "start": tr.start_date, "end": end, "seconds": tr.duration_s})
    for task_id, (start_ms, end_ms) in (json.loads(forecast_tasks) if forecast_tasks else {}).items():
        start, end = (pd.Timestamp(ms, unit="ms", tz="UTC") for ms in (start_ms, end_ms))
        bars.append({"task": task_id, "task_id": task_id, "phase": "forecast", "state": "forecast",
                     "start": start, "end": end, "seconds": (end_ms - start_ms) / 1000})
    return pd.DataFrame(bars, columns=["task", "task_id", "phase", "state", "start", "end", "seconds"])


BREAKDOWN_LABELS = {"upstream": "waiting upstream", "scheduling": "scheduling", "queued": "queued",
                    "retries": "retries", "running": "running", "drift": "running past its usual"}


def run_breakdowns(graph: Graph, dag_id: str, task_runs: pd.DataFrame, now_ms: int) -> pd.DataFrame:
    """Each task run of `task_runs` (one run's rows of a RunHistory) with its time split
    (orcai.incidents.breakdown) as stacked-bar rows: key, task, part (its label), seconds,
    and the run's sentence."""
    keys = [f"{dag_id}/{tr.run_id}/{tr.task_id}/{-1 if pd.isna(tr.map_index) else int(tr.map_index)}"
            for tr in task_runs.itertuples()]
    rows = []
    for row in incident_store.task_run_timings(graph, keys):
        if row.get("could_start") is None:
            continue
        split = breakdown(timing(row, now_ms))
        rows += [{"key": row["key"], "task": row["key"].rsplit("/", 2)[1], "part": BREAKDOWN_LABELS[part],
                  "seconds": seconds, "sentence": split.sentence}
                 for part, seconds in split.parts.items() if seconds > 0]
    return pd.DataFrame(rows, columns=["key", "task", "part", "seconds", "sentence"])


def duration_trend(history: RunHistory) -> pd.DataFrame:
    """Finished runs oldest first with the band the worker judged whole runs with when
    each run started (stored at its refits; nothing is re-detected here)."""
    runs = history.runs[history.runs["start_date"].notna() & history.runs["duration_s"].notna()]
    runs = runs.sort_values("start_date", kind="stable")
    band = band_at_runs(runs["start_date"], history.bands)
    trend = runs.assign(expected_low=band["expected_low"], expected_high=band["expected_high"])
    trend["outside_band"] = (trend["duration_s"] > trend["expected_high"]) | (trend["duration_s"] < trend["expected_low"])
    return trend


def run_summary(runs: pd.DataFrame) -> dict:
    """Counts and duration quantiles of the runs shown."""
    finished = runs[runs["state"].isin(("success", "failed"))]
    durations = runs["duration_s"].dropna()
    return {
        "runs": len(runs),
        "success_rate": None if finished.empty else float((finished["state"] == "success").mean()),
        "median_s": None if durations.empty else float(durations.median()),
        "p95_s": None if durations.empty else float(durations.quantile(0.95)),
        "with_anomalies": int((runs["anomalies"] > 0).sum()),
    }
