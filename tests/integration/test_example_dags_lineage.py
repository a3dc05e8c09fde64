"""Lineage on real topologies: Airflow's own example DAGs (branching, mapping, assets).

For every DAG Airflow serves, the downstream set of every task in ORC AI's graph equals
the transitive closure of Airflow's REST `downstream_task_ids`; every asset's producers
and scheduled DAGs appear as cross-DAG edges that downstream walks follow.
"""

from __future__ import annotations

import pytest

from orcai.airflow import AirflowClient
from orcai.lineage.blast_radius import blast_radius
from orcai.lineage.walks import downstream_tasks
from orcai.lineage.algorithms import adjacency, reachable
from orcai.sync import sync_once
from tests.airflow_truth import all_pages
from tests.conftest import api_json

pytestmark = pytest.mark.integration


@pytest.fixture
def synced(airflow_with_runs, graph):
    settings = airflow_with_runs.settings()
    report = sync_once(AirflowClient(settings), graph, settings)
    assert report.dag_errors == {}
    return airflow_with_runs, graph


def test_downstream_sets_equal_airflows_for_every_dag(synced):
    airflow, graph = synced
    dags = all_pages(airflow, "/dags", "dags")
    assert len(dags) > 40, "the example DAGs should be loaded"
    compared = 0
    for dag in dags:
        tasks = api_json(airflow, f"/dags/{dag['dag_id']}/tasks")["tasks"]
        flows = adjacency((t["task_id"], child) for t in tasks for child in t["downstream_task_ids"])
        for task in tasks:
            expected = {f"{dag['dag_id']}.{child}" for child in reachable(flows, task["task_id"])}
            key = f"{dag['dag_id']}.{task['task_id']}"
            assert set(downstream_tasks(graph, [key], max_dag_hops=0).keys) == expected, key
            compared += 1
    assert compared > 100


def test_asset_scheduled_dags_are_cross_dag_edges(synced):
    airflow, graph = synced
    assets = all_pages(airflow, "/assets", "assets")
    linked = [a for a in assets if a["producing_tasks"] and a["scheduled_dags"]]
    assert linked, "the example DAGs include asset producers and consumers"
    for asset in linked:
        for producer in asset["producing_tasks"]:
            key = f"{producer['dag_id']}.{producer['task_id']}"
            reached_dags = {k.split(".")[0] for k in downstream_tasks(graph, [key], 1).keys}
            for consumer in asset["scheduled_dags"]:
                assert consumer["dag_id"] in reached_dags, (key, asset["uri"], consumer["dag_id"])
    stored = graph.read("MATCH (t:Task)-[:PRODUCES]->(a:Asset) RETURN t.key AS t, a.uri AS a")
    expected = {(f"{p['dag_id']}.{p['task_id']}", a["uri"]) for a in assets for p in a["producing_tasks"]}
    assert {(r["t"], r["a"]) for r in stored} == expected


def test_demo_lineage_etl_orders_feeds_the_dashboard(synced):
    _, graph = synced
    radius = blast_radius(graph, task_key="etl_orders.extract")
    assert "orders_dashboard.refresh_extracts" in {t["key"] for t in radius.tasks}
    assert "postgres://warehouse" in radius.systems
    assert [d["dag_id"] for d in radius.dags] == ["etl_orders", "orders_dashboard"]
