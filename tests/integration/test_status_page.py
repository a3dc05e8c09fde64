"""The Status page rendered by Streamlit's AppTest against the real graph."""

from __future__ import annotations

import time

import pytest

from orcai.graph.load import load_dag_runs, load_dags
from orcai.graph.worker_store import write_heartbeat
from orcai.model import DagRecord, DagRunRecord
from ui.format import md_text
from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_streamlit_caches")]


def markdown_of(elements) -> str:
    return " ".join(e.value for e in elements)


def test_status_page_shows_dags_kpis_and_recent_failures(monkeypatch, graph, graph_uri):
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("etl_orders", is_paused=False, schedule="0:03:00"),
                      DagRecord("flaky_ingest", is_paused=True)])
    load_dag_runs(graph, [
        DagRunRecord("flaky_ingest", "r1", "failed", run_after=now - 60_000, end_date=now - 50_000),
        DagRunRecord("flaky_ingest", "r0", "failed", run_after=now - 120_000),
        DagRunRecord("etl_orders", "r1", "success", run_after=now - 60_000, duration_s=7.0),
    ])
    write_heartbeat(graph, "worker", {"last_sync_at": now, "last_ok_at": now, "last_error": None})

    app = run_page(monkeypatch, "status", graph_uri)

    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["DAGs"] == "2" and metrics["Paused"] == "1" and metrics["Failing now"] == "1"
    assert metrics["Runs (24 h)"] == "3" and metrics["Success rate (24 h)"] == "33%"
    assert md_text("flaky_ingest") in markdown_of(app.warning) and "2×" in markdown_of(app.warning)
    table = app.dataframe[0].value.set_index("dag_id")
    assert table.loc["flaky_ingest", "consecutive_failures"] == 2
    assert table.loc["etl_orders", "last_state"] == "success"


def test_empty_graph_says_what_to_do(monkeypatch, graph, graph_uri):
    app = run_page(monkeypatch, "status", graph_uri)
    assert not app.exception
    text = markdown_of(app.info)
    assert "No DAGs in the graph yet" in text and "No worker has written a heartbeat" in text



def test_worker_error_is_shown(monkeypatch, graph, graph_uri):
    now = int(time.time() * 1000)
    write_heartbeat(graph, "worker", {"name": "worker", "last_sync_at": now, "last_ok_at": None,
                                      "last_error": "Airflow at http://localhost:8089 is unreachable"})
    app = run_page(monkeypatch, "status", graph_uri)
    assert not app.exception
    assert "cannot sync" in markdown_of(app.error)


def test_critical_dags_are_highlighted_and_the_table_filters(monkeypatch, graph, graph_uri):
    from orcai.lineage.criticality import refresh_criticality
    from orcai.graph.load import load_assets, load_tasks
    from orcai.model import AssetRecord, TaskRecord
    load_dags(graph, [DagRecord("hub", is_paused=False, owners=("data",), tags=("core",)),
                      DagRecord("report", is_paused=False, owners=("bi",)),
                      DagRecord("dashboard", is_paused=False, owners=("bi",), tags=("core",))])
    load_tasks(graph, ["hub", "report", "dashboard"],
               [TaskRecord("hub", "load"), TaskRecord("report", "render"), TaskRecord("dashboard", "draw")])
    load_assets(graph, [AssetRecord(uri="s3://lake/orders", producers=(("hub", "load"),),
                                    scheduled_dags=("report", "dashboard"))])
    refresh_criticality(graph)

    app = run_page(monkeypatch, "status", graph_uri)
    assert not app.exception
    assert "1 critical DAGs" in markdown_of(app.markdown)
    table = app.dataframe[0].value
    assert table.set_index("dag_id").loc["hub", "criticality"] == 2 and table.set_index("dag_id").loc["hub", "critical"]
    app.multiselect[0].set_value(["bi"]).run()  # owner
    assert set(app.dataframe[0].value["dag_id"]) == {"report", "dashboard"}
    app.multiselect[1].set_value(["core"]).run()  # and tag
    assert set(app.dataframe[0].value["dag_id"]) == {"dashboard"}
    app.multiselect[0].set_value([]).run()
    app.toggle[0].set_value(True).run()  # critical only
    assert set(app.dataframe[0].value["dag_id"]) == {"hub"}
