"""After a sync, the graph says exactly what Airflow's REST API says."""

from __future__ import annotations

import pytest

from orcai.airflow import AirflowClient
from orcai.graph import connect
from orcai.sync import sync_once
from tests.airflow_truth import airflow_truth, graph_view, rounded
from tests.conftest import DEMO_DAGS, trigger, wait_for_quiet_airflow

pytestmark = pytest.mark.integration


def test_graph_equals_airflow_after_sync(airflow_with_runs, graph):
    settings = airflow_with_runs.settings()
    client = AirflowClient(settings)
    report = sync_once(client, graph, settings)

    truth, view = rounded(airflow_truth(airflow_with_runs)), graph_view(graph)
    assert report.dag_errors == {}
    assert set(DEMO_DAGS) < set(truth["dags"]) and len(truth["runs"]) >= 9
    for part in ("dags", "tasks", "edges", "runs", "task_runs"):
        assert view[part] == truth[part], part


def next_run_dates(graph) -> dict[str, int | None]:
    return {r["id"]: r["next"] for r in graph.read("MATCH (d:Dag) RETURN d.dag_id AS id, d.next_run_at AS next")}


def test_second_sync_writes_nothing(airflow_with_runs, graph):
    settings = airflow_with_runs.settings()
    client = AirflowClient(settings)
    sync_once(client, graph, settings)
    before = graph.read("MATCH (n) RETURN count(n) AS nodes")[0]["nodes"]

    # Airflow itself moves some (paused, example) DAGs' next run date each time it parses
    # their files (every 30 s here): a real change that a sync must write. Anything else,
    # and any write to a DAG whose next run date did not move, would be a needless write.
    dates = next_run_dates(graph)
    again = sync_once(client, graph, settings)
    moved = {dag for dag, date in next_run_dates(graph).items() if date != dates.get(dag)}
    props_per_dag = len(graph.read("MATCH (d:Dag) RETURN properties(d) AS p LIMIT 1")[0]["p"])

    assert again.written.nodes_created == 0
    assert again.written.relationships_created == 0
    assert again.written.properties_set <= len(moved) * props_per_dag, moved
    assert graph.read("MATCH (n) RETURN count(n) AS nodes")[0]["nodes"] == before
    pages = 1 + again.dags // 100
    assert again.requests <= 2 * pages + 3 * again.dags  # DAG and asset pages + 3 per DAG


def test_small_pages_give_the_same_graph(airflow_with_runs, graph_uri):
    """Pagination by offset: with 2 items per page nothing is lost or doubled."""
    settings = airflow_with_runs.settings(graph_uri=graph_uri, page_size=2)
    graph = connect(settings)
    sync_once(AirflowClient(settings), graph, settings)
    assert graph_view(graph) == rounded(airflow_truth(airflow_with_runs))


def test_new_run_appears_after_next_sync(airflow_with_runs, graph):
    settings = airflow_with_runs.settings()
    client = AirflowClient(settings)
    sync_once(client, graph, settings)

    new_run = trigger(client, "ml_training")
    wait_for_quiet_airflow(client)
    report = sync_once(client, graph, settings)

    key = f"ml_training/{new_run.dag_run_id}"
    stored = graph.read("MATCH (r:DagRun {key: $key}) RETURN r.state AS state", {"key": key})
    final = client.get_dag_run("ml_training", new_run.dag_run_id)
    assert stored == [{"state": final.state.value}]
    assert report.dag_runs_seen >= 1
    tasks = graph.read("MATCH (:DagRun {key: $key})-[:HAS_TASK_RUN]->(t:TaskRun) RETURN t.task_id AS id",
                       {"key": key})
    assert sorted(t["id"] for t in tasks) == ["build_features", "train_model"]
