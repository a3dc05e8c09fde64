"""The Anomalies page rendered by Streamlit's AppTest against the real graph."""

from __future__ import annotations

import time

import pytest

from orcai.anomalies.monitor import AnomalyMonitor
from orcai.config import load_settings
from orcai.graph.load import load_dags, load_tasks
from orcai.model import DagRecord, TaskRecord
from orcai.simulate import DagSpec, Options, TaskSpec, synthetic_history, write_history
from tests.integration.pages_harness import fresh_streamlit_caches, log_in, run_page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_streamlit_caches")]


@pytest.fixture
def flagged_graph(graph, graph_uri):
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("etl", is_paused=False, schedule="1:00:00")])
    load_tasks(graph, ["etl"], [TaskRecord("etl", "extract", downstream_task_ids=("load",)), TaskRecord("etl", "load")])
    structure = [DagSpec("etl", "1:00:00", (TaskSpec("extract"), TaskSpec("load", ("extract",))))]
    write_history(graph, synthetic_history(structure, days=6, now_ms=now, seed=5,
                                           options=Options(anomalies_per_week=4.0)))
    AnomalyMonitor(load_settings(graph_uri=graph_uri)).run(graph, now)
    return graph


def test_open_anomalies_with_reasons_and_a_chart(monkeypatch, flagged_graph, graph_uri):
    app = run_page(monkeypatch, "anomalies", graph_uri)
    assert not app.exception
    table = app.dataframe[0].value
    assert len(table) > 0 and table["reason"].str.len().min() > 10
    assert list(table["severity"].map({"high": 0, "medium": 1, "low": 2})) == sorted(
        table["severity"].map({"high": 0, "medium": 1, "low": 2}))
    assert app.get("plotly_chart"), "the drill-down chart is drawn"


def test_acknowledge_moves_it_out_of_open(monkeypatch, flagged_graph, graph_uri):
    monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", "ack-it")
    app = log_in(run_page(monkeypatch, "anomalies", graph_uri), "ack-it")
    before = len(app.dataframe[0].value)
    app.button(key="set-acknowledged").click().run()
    assert not app.exception
    after = len(app.dataframe[0].value) if app.dataframe else 0
    assert after == before - 1
    acked = flagged_graph.read("MATCH (a:Anomaly {status: 'acknowledged'}) RETURN count(a) AS n")
    assert acked == [{"n": 1}]


@pytest.mark.parametrize("password", [None, "set-but-not-entered"])
def test_without_login_no_anomaly_can_be_changed(monkeypatch, flagged_graph, graph_uri, password):
    if password:
        monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", password)
    app = run_page(monkeypatch, "anomalies", graph_uri)
    assert not app.exception
    assert all(app.button(key=f"set-{status}").disabled for status in ("acknowledged", "false_positive", "open"))
    assert flagged_graph.read("MATCH (a:Anomaly) WHERE a.status <> 'open' RETURN count(a) AS n") == [{"n": 0}]


def test_no_anomalies_is_a_calm_message(monkeypatch, graph, graph_uri):
    app = run_page(monkeypatch, "anomalies", graph_uri)
    assert not app.exception
    assert "No anomalies match" in app.success[0].value
