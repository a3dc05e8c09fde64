"""Hostile strings through the real graph and the pages: stored and shown verbatim, never run."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orcai.airflow.records import free_text
from orcai.graph import dag_store
from orcai.lineage.walks import downstream_tasks
from orcai.graph.load import load_dag_runs, load_dags, load_tasks
from orcai.model import DagRecord, DagRunRecord, TaskRecord
from tests.hostile import HOSTILE_STRINGS, valid_identifier
from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration
NOW = 1_800_000_000_000


# Identifiers as the mapping accepts them (see orcai/airflow/records.py); any text elsewhere.
KEYABLE = [text for text in HOSTILE_STRINGS if valid_identifier(text)]


def hostile_deployment(graph) -> list[str]:
    dag_ids = [f"dag {i} {text}" for i, text in enumerate(KEYABLE)]
    load_dags(graph, [DagRecord(dag_id=d, is_paused=False, description=text, tags=(text,), owners=(text,))
                      for d, text in zip(dag_ids, KEYABLE)])
    for dag_id, text in zip(dag_ids, KEYABLE):
        load_tasks(graph, [dag_id], [TaskRecord(dag_id, text, downstream_task_ids=("after",)),
                                     TaskRecord(dag_id, "after")])
        load_dag_runs(graph, [DagRunRecord(dag_id=dag_id, run_id=text, state="failed",
                                           start_date=NOW - 60_000, end_date=NOW)])
    return dag_ids


def test_hostile_strings_are_stored_verbatim_and_never_executed(graph):
    dag_ids = hostile_deployment(graph)
    assert len(dag_ids) >= 7  # quotes, Cypher, HTML, Markdown, backslashes, unicode, RTL

    stored = {r["id"]: r for r in graph.read(
        "MATCH (d:Dag) RETURN d.dag_id AS id, d.description AS description, d.tags AS tags, d.owners AS owners")}
    assert set(stored) == set(dag_ids)  # nothing was deleted by an "injected" DETACH DELETE
    for dag_id, text in zip(dag_ids, KEYABLE):
        assert stored[dag_id]["description"] == text
        assert stored[dag_id]["tags"] == [text] and stored[dag_id]["owners"] == [text]
    runs = {r["key"] for r in graph.read("MATCH (r:DagRun) RETURN r.key AS key")}
    assert runs == {f"{d}/{text}" for d, text in zip(dag_ids, KEYABLE)}
    # Lineage walks take the same strings as parameters.
    walk = downstream_tasks(graph, [f"{dag_ids[0]}.{KEYABLE[0]}"])
    assert walk.keys == [f"{dag_ids[0]}.after"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=200))
def test_what_the_mapping_accepts_round_trips_through_the_graph(graph, text):
    """Any text as a description (but NUL, see orcai/airflow/records.py); as an id, any text
    the mapping lets through."""
    dag_id = text if valid_identifier(text) else "odd_description"
    text = free_text(text)
    load_dags(graph, [DagRecord(dag_id=dag_id, is_paused=True, description=text)])
    load_dags(graph, [DagRecord(dag_id=dag_id, is_paused=True, description=text)])  # no duplicate
    rows = graph.read("MATCH (d:Dag {dag_id: $id}) RETURN d.description AS description", {"id": dag_id})
    assert rows == [{"description": text}]


def test_status_page_shows_hostile_dag_ids_as_text(graph, graph_uri, monkeypatch, fresh_streamlit_caches):  # noqa: F811
    dag_ids = hostile_deployment(graph)
    page = run_page(monkeypatch, "status", graph_uri)

    assert not page.exception
    assert set(page.dataframe[0].value["dag_id"]) == set(dag_ids)
    assert len(dag_store.live_dag_ids(graph)) == len(dag_ids)
