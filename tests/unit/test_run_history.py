"""Run history's pure shaping: grid, Gantt bars, duration band, Airflow links."""

from __future__ import annotations

import pandas as pd
import pytest

from orcai.airflow.links import airflow_run_url, airflow_task_page_url, airflow_task_url
from orcai.run_history import (
    RunHistory, duration_trend, gantt_rows, run_summary, runs_table, state_grid, task_runs_table, worst_state,
)

T0 = 1_790_000_000_000
MIN = 60_000


def history(n_runs: int = 3, durations=None) -> RunHistory:
    durations = durations or [60.0] * n_runs
    rows = [{"key": f"d/r{i}", "run_id": f"r{i}", "state": "success", "run_type": "scheduled",
             "at": T0 + i * 60 * MIN, "queued_at": T0 + i * 60 * MIN, "start_date": T0 + i * 60 * MIN + 4_000,
             "end_date": T0 + i * 60 * MIN + 64_000, "duration_s": durations[i]} for i in range(n_runs)][::-1]
    anomalies = pd.DataFrame([{"run_id": "r1", "task_id": "b", "kind": "slow", "severity": "high",
                               "reason": "took long", "status": "open"}])
    task_runs = task_runs_table(
        [{"run_id": f"r{i}", "task_id": "a", "map_index": -1, "state": "success", "start_date": T0 + i * 60 * MIN + 5_000,
          "end_date": T0 + i * 60 * MIN + 25_000, "duration_s": 20.0, "queued_s": 1.0} for i in range(n_runs)]
        + [{"run_id": "r1", "task_id": "b", "map_index": m, "state": s, "start_date": T0 + 60 * MIN + 30_000,
            "end_date": T0 + 60 * MIN + 60_000, "duration_s": 30.0, "queued_s": 0.0}
           for m, s in ((0, "success"), (1, "failed"))])
    return RunHistory("d", runs_table(rows, anomalies), task_runs, ["a", "b", "c"], anomalies, truncated=False)


def test_runs_table_counts_queue_time_and_anomalies():
    runs = history().runs
    assert list(runs["run_id"]) == ["r2", "r1", "r0"]
    assert runs["queued_s"].tolist() == [4.0, 4.0, 4.0]
    assert runs.set_index("run_id")["anomalies"].to_dict() == {"r2": 0, "r1": 1, "r0": 0}
    assert run_summary(runs) == {"runs": 3, "success_rate": 1.0, "median_s": 60.0, "p95_s": 60.0, "with_anomalies": 1}


@pytest.mark.filterwarnings("error")
def test_runs_table_without_anomalies_has_empty_reasons_and_no_pandas_warning():
    """A DAG without anomalies (most of them): pandas warned it will refuse "" in the float column."""
    rows = [{"key": "d/r0", "run_id": "r0", "state": "success", "at": T0, "start_date": T0, "end_date": T0 + MIN}]
    runs = runs_table(rows, pd.DataFrame(columns=["run_id", "reason"]))
    assert runs["anomaly_reasons"].tolist() == [""] and runs["anomalies"].tolist() == [0]


def test_grid_is_tasks_by_runs_oldest_left_with_the_worst_mapped_state():
    grid = state_grid(history(), max_runs=2)
    assert list(grid.index) == ["a", "b", "c"]
    assert len(grid.columns) == 2  # the two newest runs, r1 then r2
    assert grid.iloc[1, 0] == "failed", "one of b's mapped instances failed in r1"
    assert grid.iloc[0].tolist() == ["success", "success"]
    assert grid.loc["c"].isna().all()
    assert worst_state(pd.Series(["success", "skipped", None])) == "skipped"


def test_gantt_shows_queue_time_apart_from_run_time():
    bars = gantt_rows(history().task_runs, "r0")
    assert bars[["task", "phase", "state"]].values.tolist() == [["a", "queued", "queued"], ["a", "running", "success"]]
    queued, running = bars.iloc[0], bars.iloc[1]
    assert queued["end"] == running["start"] and (queued["end"] - queued["start"]).total_seconds() == 1.0
    assert gantt_rows(history().task_runs, "r1")["task"].tolist()[-2:] == ["b[0]", "b[1]"]


def test_duration_trend_draws_the_band_the_worker_stored_when_each_run_started():
    durations = [60.0 + (i % 3) for i in range(29)] + [600.0]
    h = history(30, durations)
    refit_at = T0 + 10 * 60 * MIN  # a refit between the 10th and the 11th run widened the band
    h = RunHistory(h.dag_id, h.runs, h.task_runs, h.task_ids, h.anomalies, h.truncated,
                   bands=[[T0 + 5 * 60 * MIN, 60.0, 55.0, 70.0], [refit_at, 61.0, 50.0, 90.0]])
    trend = duration_trend(h)
    assert trend["start_date"].is_monotonic_increasing
    assert trend["expected_high"].iloc[0] == 70.0  # before the first stored band: the oldest one
    assert trend["expected_high"].iloc[9] == 70.0 and trend["expected_high"].iloc[10] == 90.0
    assert trend["outside_band"].iloc[-1] and not trend["outside_band"].iloc[:-1].any()


def test_duration_trend_without_stored_bands_draws_no_band():
    trend = duration_trend(history(5))
    assert trend["expected_high"].isna().all() and not trend["outside_band"].any()


def test_airflow_links_encode_ids():
    run = "manual__2026-11-25T10:00:00+00:00"
    assert airflow_run_url("http://af", "my dag", run) == \
        "http://af/dags/my%20dag/runs/manual__2026-11-25T10%3A00%3A00%2B00%3A00"
    assert airflow_task_url("http://af", "d", "r", "group.task").endswith("/dags/d/runs/r/tasks/group.task")
    # a mapped instance's own page, as Airflow 3's UI routes it (tasks/:taskId/mapped/:mapIndex)
    assert airflow_task_url("http://af", "d", "r", "add_one", 2).endswith("/dags/d/runs/r/tasks/add_one/mapped/2")
    assert airflow_task_url("http://af", "d", "r", "add_one", -1).endswith("/dags/d/runs/r/tasks/add_one")
    assert airflow_task_page_url("http://af", "team.etl", "load#1") == "http://af/dags/team.etl/tasks/load%231"


def test_runs_due_in_the_same_minute_get_distinct_grid_columns():
    h = history(3)
    runs = h.runs.assign(at=h.runs["at"].iloc[0],
                         run_id=["manual__2026-11-25T10:00:00+00:00", "manual__2026-11-25T10:00:30+00:00", "r0"])
    grid = state_grid(RunHistory("d", runs, h.task_runs, ["a"], h.anomalies, False), 10)
    assert grid.columns.is_unique and len(grid.columns) == 3
    assert grid.columns[1].endswith("(2)")


def test_grid_rows_follow_the_order_tasks_run_in():
    from orcai.run_history import task_order
    runs = task_runs_table([
        {"run_id": r, "task_id": t, "map_index": -1, "state": "success", "start_date": T0 + i * 1000}
        for r in ("r0", "r1") for i, t in enumerate(["extract", "transform", "load"])])
    assert task_order(["extract", "load", "never_ran", "transform"], runs) == ["extract", "transform", "load", "never_ran"]


def test_gantt_adds_the_forecast_of_tasks_not_finished_yet():
    forecast = '{"c": [%d, %d]}' % (T0 + 10 * MIN, T0 + 12 * MIN)
    bars = gantt_rows(history().task_runs, "r0", forecast)
    planned = bars[bars["phase"] == "forecast"]
    assert planned["task"].tolist() == ["c"] and planned["seconds"].tolist() == [120.0]
    assert (planned["end"] - planned["start"]).iloc[0].total_seconds() == 120.0
    assert gantt_rows(history().task_runs, "r0", None)["phase"].ne("forecast").all()
