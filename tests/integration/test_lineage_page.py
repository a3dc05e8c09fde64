"""The Lineage page rendered by Streamlit's AppTest against the real graph."""

from __future__ import annotations

import pytest

from tests.integration.known_graph import load_known_lineage
from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_streamlit_caches")]


def test_task_details_show_blast_radius_and_runs(monkeypatch, graph, graph_uri):
    load_known_lineage(graph)
    app = run_page(monkeypatch, "lineage", graph_uri, dag="A", task="A.a2")
    assert not app.exception
    assert app.selectbox[0].value == "A" and app.selectbox[1].value == "A.a2"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Downstream tasks"] == "5" and metrics["DAGs hit"] == "3"
    table = app.dataframe[0].value
    assert set(table["name"]) >= {"A.a1", "A.a2", "A.a3", "B.b1", "postgres://wh/orders"}
    blast = app.dataframe[1].value
    assert list(blast["dag_id"]) == ["A", "B", "C"]


def test_whole_dag_without_a_task(monkeypatch, graph, graph_uri):
    load_known_lineage(graph)
    app = run_page(monkeypatch, "lineage", graph_uri, dag="B")
    assert not app.exception
    names = set(app.dataframe[0].value["name"])
    assert {"B.b1", "B.b2", "A.a3", "C.c1"} <= names  # one DAG hop up and down
    assert not app.subheader  # no task selected: no details panel


def test_empty_graph_says_what_to_do(monkeypatch, graph, graph_uri):
    app = run_page(monkeypatch, "lineage", graph_uri)
    assert not app.exception
    assert "No DAGs in the graph yet" in app.info[0].value
