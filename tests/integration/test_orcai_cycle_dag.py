"""The orcai_cycle DAG runs ORC AI's cycle as Airflow tasks in the real test Airflow."""

from __future__ import annotations

import time

import pytest

from orcai.airflow import AirflowClient
from orcai.config import load_settings
from orcai.graph import connect
from tests.conftest import CYCLE_GRAPH_URI, DEMO_DAGS, api_json, trigger

pytestmark = pytest.mark.integration


def wait_for_run(client: AirflowClient, dag_id: str, run_id: str, timeout_s: float = 420) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = str(client.get_dag_run(dag_id, run_id).state.value)
        if state in ("success", "failed"):
            return state
        time.sleep(3)
    raise TimeoutError(f"{dag_id} run {run_id} not finished after {timeout_s} s")


def test_orcai_cycle_syncs_detects_and_acts(airflow_with_runs, falkordb_server):
    client = AirflowClient(airflow_with_runs.settings())
    dag = api_json(airflow_with_runs, "/dags/orcai_cycle")
    assert dag["is_paused"] and dag["max_active_runs"] == 1
    client.set_paused("orcai_cycle", False)
    try:
        run = trigger(client, "orcai_cycle")
        state = wait_for_run(client, "orcai_cycle", run.dag_run_id)
    finally:
        client.set_paused("orcai_cycle", True)
        client.close()

    tasks = api_json(airflow_with_runs, f"/dags/orcai_cycle/dagRuns/{run.dag_run_id}/taskInstances")
    assert state == "success", {t["task_id"]: t["state"] for t in tasks["task_instances"]}
    assert {t["task_id"]: t["state"] for t in tasks["task_instances"]} == {
        "sync": "success", "detect": "success", "policies": "success"}

    graph = connect(load_settings(graph_uri=CYCLE_GRAPH_URI))
    dags = {r["dag_id"] for r in graph.read("MATCH (d:Dag) RETURN d.dag_id AS dag_id")}
    assert set(DEMO_DAGS) | {"orcai_cycle"} <= dags
    assert graph.read("MATCH (:DagRun)-[:HAS_TASK_RUN]->(t:TaskRun) RETURN count(t) AS n")[0]["n"] > 0
    beat = graph.read("MATCH (w:Worker {name: 'orcai_cycle'}) RETURN w.last_error AS error, w.dags AS dags")
    assert beat and beat[0]["error"] is None and beat[0]["dags"] == len(dags)
    locks = graph.read("MATCH (l:Lock {name: 'cycle'}) RETURN l.holder AS holder")
    assert locks == [{"holder": None}], "every step gives the cycle lock back"
