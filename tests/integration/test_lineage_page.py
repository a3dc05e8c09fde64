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


def test_the_first_view_draws_every_node_as_html_linking_to_its_details(monkeypatch, graph, graph_uri):
    load_known_lineage(graph)
    app = run_page(monkeypatch, "lineage", graph_uri, dag="B")
    drawing = app.html[0].proto.body
    for name in ("B.b1", "B.b2", "A.a3", "C.c1"):
        assert f'data-node="task:{name}"' in drawing
    assert 'href="?dag=B&amp;hops=1&amp;focus=A.a3"' in drawing  # a task keeps the view, focused on it
    assert "<iframe" not in drawing and not app.get("component_instance")  # the interactive graph waits for its tab


def test_a_task_clicked_in_the_drawing_shows_its_details(monkeypatch, graph, graph_uri):
    load_known_lineage(graph)
    app = run_page(monkeypatch, "lineage", graph_uri, dag="B", focus="A.a3")
    assert not app.exception
    assert app.selectbox[1].value is None  # the view is still the whole DAG B
    assert app.subheader[0].value == "Task A\\.a3"
    assert {m.label: m.value for m in app.metric}["DAGs hit"] == "2"
    assert 'class="n box focus"' in app.html[0].proto.body


def test_picking_another_dag_forgets_the_clicked_task(monkeypatch, graph, graph_uri):
    load_known_lineage(graph)
    app = run_page(monkeypatch, "lineage", graph_uri, dag="B", focus="A.a3")
    app = app.selectbox[0].select("A").run()
    assert not app.exception
    assert "focus" not in app.query_params and not app.subheader  # A.a3 is in A's view too


def test_a_focus_outside_the_view_is_ignored(monkeypatch, graph, graph_uri):
    load_known_lineage(graph)
    app = run_page(monkeypatch, "lineage", graph_uri, dag="D", focus="A.a3")
    assert not app.exception and not app.subheader


def test_empty_graph_says_what_to_do(monkeypatch, graph, graph_uri):
    app = run_page(monkeypatch, "lineage", graph_uri)
    assert not app.exception
    assert "No DAGs in the graph yet" in app.info[0].value
