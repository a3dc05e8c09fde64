"""The Runs page rendered by Streamlit's AppTest against the real graph: normal, empty, filtered."""

from __future__ import annotations

import time

import pytest

from orcai.graph.anomaly_store import load_anomalies
from orcai.graph.load import load_dag_runs, load_dags, load_task_runs, load_tasks
from orcai.graph.worker_store import write_heartbeat
from orcai.model import DagRecord, DagRunRecord, TaskRecord, TaskRunRecord
from ui.format import md_text
from tests.integration.pages_harness import fresh_streamlit_caches, log_in, run_page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_streamlit_caches")]
MIN_MS = 60_000


def frame_of(element):
    """A dataframe element's DataFrame (styled tables hold a pandas Styler)."""
    return getattr(element.value, "data", element.value)


def text_of(elements) -> str:
    return " ".join(str(e.value) for e in elements)


@pytest.fixture
def etl_history(graph):
    """etl: extract -> load, 12 hourly runs (the newest failed in `load`), one anomaly."""
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("etl", is_paused=False, schedule="@hourly", owners=("data",)),
                      DagRecord("a_idle", is_paused=False)])
    load_tasks(graph, ["etl"], [TaskRecord("etl", "extract", downstream_task_ids=("load",)),
                                TaskRecord("etl", "load"), TaskRecord("etl", "never_ran")])
    runs, task_runs = [], []
    for i in range(12):
        due = now - (12 - i) * 60 * MIN_MS
        failed = i == 11
        run_id = f"scheduled__{i:02d}"
        runs.append(DagRunRecord("etl", run_id, "failed" if failed else "success", run_type="scheduled",
                                 run_after=due, queued_at=due, start_date=due + 5_000,
                                 end_date=due + 65_000, duration_s=60.0))
        task_runs += [
            TaskRunRecord("etl", run_id, "extract", -1, "success", 1, due + 7_000, due + 27_000, 20.0, queued_s=2.0),
            TaskRunRecord("etl", run_id, "load", -1, "failed" if failed else "success", 1,
                          due + 30_000, due + 65_000, 35.0, queued_s=3.0),
        ]
    runs.append(DagRunRecord("etl", "manual__x", "success", run_type="manual", run_after=now - 30 * MIN_MS,
                             start_date=now - 30 * MIN_MS, end_date=now - 29 * MIN_MS, duration_s=60.0))
    load_dag_runs(graph, runs)
    load_task_runs(graph, task_runs)
    load_anomalies(graph, [{"key": "slow:etl/scheduled__05/load/-1", "kind": "slow", "score": 6.0,
                            "severity": "high", "reason": "took 35 s, 3x its median", "detector": "robust/1.0",
                            "detected_at": now, "dag_id": "etl", "task_id": "load", "task_key": "etl.load",
                            "run_id": "scheduled__05", "run_start": now - 7 * 60 * MIN_MS,
                            "target_label": "TaskRun", "target_key": "etl/scheduled__05/load/-1"}])
    write_heartbeat(graph, "worker", {"name": "worker", "last_sync_at": now, "last_ok_at": now, "last_error": None})
    return now


def test_runs_page_shows_grid_trend_gantt_and_links(monkeypatch, graph_uri, etl_history):
    app = run_page(monkeypatch, "runs", graph_uri, dag="etl")

    assert not app.exception
    assert app.selectbox[0].value == "etl"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Runs"] == "13" and metrics["Runs with anomalies"] == "1"
    assert metrics["Success rate"] == "92%"
    grid = frame_of(app.dataframe[0])
    assert list(grid.index) == ["extract", "load", "never_ran"]
    assert grid.iloc[1, -2] == "failed", "the newest scheduled run failed in load (manual run is newest)"
    assert grid.loc["never_ran"].isna().all()
    assert len(app.get("plotly_chart")) == 2  # duration trend, task durations
    assert "No task of this run has started yet" in text_of(app.caption), "the newest run (manual) has no task runs"
    runs_table = frame_of(app.dataframe[-1])
    assert runs_table.iloc[0]["run_id"] == "manual__x"
    assert "/dags/etl/runs/scheduled__11" in " ".join(runs_table["airflow"])
    assert runs_table.set_index("run_id").loc["scheduled__05", "anomalies"] == 1

    app.selectbox[1].set_value("scheduled__11").run()  # the Gantt of the failed run, and where its time went
    assert len(app.get("plotly_chart")) == 4
    assert any(c.startswith("load: ") and ("late" in c or "on time" in c) for c in (x.value for x in app.caption))
    tasks = frame_of(app.dataframe[1])
    assert tasks.set_index("task_id").loc["load", "state"] == "failed"
    assert tasks.set_index("task_id").loc["load", "queued_s"] == 3.0
    assert tasks["airflow"].str.endswith("/dags/etl/runs/scheduled__11/tasks/load").any()


def test_a_finished_run_shows_its_last_forecast_as_such_not_as_its_forecast_end(monkeypatch, graph, graph_uri,
                                                                                 etl_history):
    """The worker keeps a run's last forecast once it finished (for accuracy); the page said
    "Forecast end: …" under the Gantt of a run that had ended."""
    from orcai.graph.forecast_store import write_forecasts
    due = etl_history - 60 * MIN_MS  # scheduled__11: ended at due + 65 s
    write_forecasts(graph, [{"key": "etl/scheduled__11", "at": due + 30_000, "p50": due + 70_000, "p80": due + 90_000,
                             "deadline": None, "risk": None, "risk_held": None, "progress": 0.5,
                             "watch_task": "load", "watch_reason": "", "windows": "{}"}], keep=5)
    app = run_page(monkeypatch, "runs", graph_uri, dag="etl")
    app.selectbox[1].set_value("scheduled__11").run()
    captions = text_of(app.caption)
    assert "Forecast end:" not in captions
    assert "its last forecast was" in captions and "Ended" in captions


def test_runs_page_filters_by_state_and_run_type(monkeypatch, graph_uri, etl_history):
    app = run_page(monkeypatch, "runs", graph_uri, dag="etl")
    app.multiselect[0].set_value(["failed"]).run()
    assert not app.exception
    assert {m.label: m.value for m in app.metric}["Runs"] == "1"
    app.multiselect[0].set_value([]).run()
    app.multiselect[1].set_value(["manual"]).run()
    assert {m.label: m.value for m in app.metric}["Runs"] == "1"


def test_dag_without_runs_says_how_to_see_some(monkeypatch, graph_uri, etl_history):
    app = run_page(monkeypatch, "runs", graph_uri, dag="a_idle")
    assert not app.exception
    assert f"No runs of **{md_text('a_idle')}** match" in text_of(app.info)


def test_empty_graph_says_what_to_do(monkeypatch, graph, graph_uri):
    app = run_page(monkeypatch, "runs", graph_uri)
    assert not app.exception
    assert "No DAGs in the graph yet" in text_of(app.info)


def test_without_a_dag_in_the_url_the_most_recently_run_dag_is_shown(monkeypatch, graph_uri, etl_history):
    app = run_page(monkeypatch, "runs", graph_uri)
    assert not app.exception
    assert app.selectbox[0].value == "etl", "a_idle sorts first but has never run"
    assert app.query_params["dag"] == "etl"


def test_an_admin_sets_a_dags_deadline_on_the_page(monkeypatch, graph, graph_uri, etl_history):
    monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", "due-by")
    app = run_page(monkeypatch, "runs", graph_uri, dag="etl")
    assert app.text_input(key="deadline-text").disabled  # a viewer sees it, cannot change it
    app = log_in(app, "due-by")
    app.text_input(key="deadline-text").input("tomorrow")
    app.button[[b.label for b in app.button].index("Save deadline")].click()
    app = app.run()
    assert "is not a deadline" in text_of(app.error) and not app.exception
    app.text_input(key="deadline-text").input("+2h")
    app.button[[b.label for b in app.button].index("Save deadline")].click()
    app = app.run()
    assert not app.exception and not app.error
    assert graph.read("MATCH (d:Dag {dag_id: 'etl'}) RETURN d.deadline_setting AS spec, d.deadline_set_by AS by, "
                      "d.deadline_set_page AS page") == [{"spec": "+2h", "by": "admin", "page": "Runs"}]

