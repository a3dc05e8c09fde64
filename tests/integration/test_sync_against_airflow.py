"""After a sync, the graph says exactly what Airflow's REST API says."""

from __future__ import annotations

import pytest

from orcai.airflow import AirflowClient
from orcai.graph import connect
from orcai.sync import sync_once
from tests.conftest import DEMO_DAGS, api_json, trigger, wait_for_quiet_airflow

pytestmark = pytest.mark.integration


def all_pages(airflow, path: str, field: str) -> list[dict]:
    items, offset = [], 0
    while True:
        sep = "&" if "?" in path else "?"
        page = api_json(airflow, f"{path}{sep}limit=100&offset={offset}")
        items += page[field]
        offset += len(page[field])
        if not page[field] or offset >= page["total_entries"]:
            return items


def airflow_truth(airflow) -> dict:
    dags = all_pages(airflow, "/dags", "dags")
    tasks = {dag["dag_id"]: api_json(airflow, f"/dags/{dag['dag_id']}/tasks")["tasks"] for dag in dags}
    return {
        "dags": {d["dag_id"]: (d["is_paused"], sorted(t["name"] for t in d["tags"])) for d in dags},
        "tasks": {f"{dag_id}.{t['task_id']}" for dag_id, ts in tasks.items() for t in ts},
        "edges": {(f"{dag_id}.{child}", f"{dag_id}.{t['task_id']}")
                  for dag_id, ts in tasks.items() for t in ts for child in t["downstream_task_ids"]},
        "runs": {f"{r['dag_id']}/{r['dag_run_id']}": (r["state"], r["duration"])
                 for r in all_pages(airflow, "/dags/~/dagRuns", "dag_runs")},
        "task_runs": {f"{t['dag_id']}/{t['dag_run_id']}/{t['task_id']}/{t['map_index']}":
                      (t["state"], t["try_number"], t["duration"])
                      for t in all_pages(airflow, "/dags/~/dagRuns/~/taskInstances", "task_instances")},
    }


def graph_view(graph) -> dict:
    def close(value):
        return None if value is None else round(value, 3)
    dags = graph.read("MATCH (d:Dag) WHERE NOT d.is_deleted RETURN d.dag_id AS id, d.is_paused AS paused, d.tags AS tags")
    return {
        "dags": {d["id"]: (d["paused"], sorted(d["tags"])) for d in dags},
        "tasks": {r["key"] for r in graph.read(
            "MATCH (:Dag)-[:HAS_TASK]->(t:Task) WHERE NOT t.is_deleted RETURN t.key AS key")},
        "edges": {(r["a"], r["b"]) for r in graph.read(
            "MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) RETURN a.key AS a, b.key AS b")},
        "runs": {r["key"]: (r["state"], close(r["duration"])) for r in graph.read(
            "MATCH (:Dag)-[:HAS_RUN]->(r:DagRun) RETURN r.key AS key, r.state AS state, r.duration_s AS duration")},
        "task_runs": {r["key"]: (r["state"], r["try"], close(r["duration"])) for r in graph.read(
            "MATCH (:DagRun)-[:HAS_TASK_RUN]->(t:TaskRun)-[:INSTANCE_OF]->(:Task) "
            "RETURN t.key AS key, t.state AS state, t.try_number AS try, t.duration_s AS duration")},
    }


def rounded(truth: dict) -> dict:
    def close(value):
        return None if value is None else round(value, 3)
    return {
        **truth,
        "runs": {k: (s, close(d)) for k, (s, d) in truth["runs"].items()},
        "task_runs": {k: (s, t, close(d)) for k, (s, t, d) in truth["task_runs"].items()},
    }


def test_graph_equals_airflow_after_sync(airflow_with_runs, graph):
    settings = airflow_with_runs.settings()
    client = AirflowClient(settings)
    report = sync_once(client, graph, settings)

    truth, view = rounded(airflow_truth(airflow_with_runs)), graph_view(graph)
    assert report.dag_errors == {}
    assert set(DEMO_DAGS) < set(truth["dags"]) and len(truth["runs"]) >= 9
    for part in ("dags", "tasks", "edges", "runs", "task_runs"):
        assert view[part] == truth[part], part


def test_second_sync_writes_nothing(airflow_with_runs, graph):
    settings = airflow_with_runs.settings()
    client = AirflowClient(settings)
    sync_once(client, graph, settings)
    before = graph.read("MATCH (n) RETURN count(n) AS nodes")[0]["nodes"]

    # Right after runs finish the scheduler still updates DAGs (next run dates): a real
    # change that a sync must pick up. Once Airflow is still, a sync writes nothing.
    for _ in range(3):
        again = sync_once(client, graph, settings)
        if again.written.total == 0:
            break

    assert again.written.nodes_created == 0
    assert again.written.relationships_created == 0
    assert again.written.properties_set == 0
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
