"""The stuck-work policies against a real Airflow 3.3.

stuck_export is triggered with conf {"sleep_s": 900}: its one task hangs, running. The real
worker (sync, detection, incidents, policies) then runs cycles with a `clear_stuck` policy.
In dry run it records a would-be clear and Airflow is untouched (same try, still running);
in enforce it clears the task instance, and Airflow's own API shows a new try. A
`fail_zombie_run` policy then marks the run failed, and Airflow's API shows it failed.
The threshold is 0 minutes so the test does not wait on the clock; the decision is the same.
"""

from __future__ import annotations

import json
import time

import pytest

from orcai.airflow import AirflowClient
from orcai.graph import policy_store as store
from orcai.policy.model import parse_policy
from tests.conftest import api_json, trigger
from workers.worker import Worker

pytestmark = pytest.mark.integration

DAG, TASK = "stuck_export", "export"


def _wait_for(what: str, check, timeout_s: float = 240):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(2)
    raise TimeoutError(f"{what} within {timeout_s} s")


def _hung_run(client, airflow) -> tuple[str, dict]:
    """A run whose export task is running (hung). On an overloaded machine a task can fail
    before it starts (its process times out reaching Airflow): that run is retried, twice."""
    for attempt in range(3):
        run_id = trigger(client, DAG, conf={"sleep_s": 900}).dag_run_id

        def running_or_over():
            ti = _task_instance(airflow, run_id)
            return ti if ti["state"] == "running" or ti["state"] in ("failed", "upstream_failed") else None
        ti = _wait_for("the export task running", running_or_over, 300)
        if ti["state"] == "running":
            return run_id, ti
    raise AssertionError(f"{DAG}'s task failed to start three times (see the Airflow log)")


def _task_instance(airflow, run_id: str) -> dict:
    return api_json(airflow, f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{TASK}")


def _actions(graph, kind: str) -> list[dict]:
    rows = graph.read("MATCH (p:Policy)-[:FIRED]->(a:Action {kind: $kind})-[:TARGETS]->(:Dag {dag_id: $dag}) "
                      "RETURN properties(a) AS a ORDER BY a.at, a.key", {"kind": kind, "dag": DAG})
    return [r["a"] for r in rows]


def _save(graph, name: str, action: str, mode: str) -> None:
    policy = parse_policy({"name": name, "scope": {"dags": [DAG]}, "actions": [action], "mode": mode,
                           "condition": f'run.stuck_min >= 0 && run.stuck_task == "{TASK}"'})
    store.save_policy(graph, policy, "test", int(time.time() * 1000), change="create")


def test_clear_stuck_dry_run_changes_nothing_enforce_clears_and_fail_zombie_run_fails_the_run(airflow, graph_uri):
    client = AirflowClient(airflow.settings())
    _wait_for(f"{DAG} parsed", lambda: DAG in {d.dag_id for d in client.list_dags()}, 180)
    client.set_paused(DAG, False)
    run_id, hung = _hung_run(client, airflow)
    worker = Worker(airflow.settings(graph_uri=graph_uri, sync_lookback_days=1))
    try:
        worker.cycle()  # the graph is made and synced, the shipped policies installed
        # 1. Dry run: a would-be clear, recorded with the facts it saw; Airflow untouched.
        _save(worker.graph, "unstick-export", "clear_stuck", "dry_run")
        worker.cycle()
        [would] = _actions(worker.graph, "clear_stuck")
        facts = json.loads(would["facts"])["run"]
        assert (would["status"], would["dry_run"], would["run_id"]) == ("would_do", True, run_id)
        assert (facts["stuck_run"], facts["stuck_task"], facts["stuck_try"]) == (run_id, TASK, hung["try_number"])
        still = _task_instance(airflow, run_id)
        assert (still["state"], still["try_number"]) == ("running", hung["try_number"])

        # 2. Enforce: the task instance is cleared; Airflow shows a new try.
        store.change_policy(worker.graph, "unstick-export", "admin", int(time.time() * 1000), "mode", mode="enforce")
        assert worker.cycle().policies.done == 1
        [done] = [a for a in _actions(worker.graph, "clear_stuck") if not a["dry_run"]]
        assert done["status"] == "done" and done["key"].endswith(f":{run_id}/{TASK}#{hung['try_number']}")
        retried = _wait_for("a new try of the export task",
                            lambda: (ti := _task_instance(airflow, run_id))["try_number"] > hung["try_number"] and ti)
        assert retried["state"] in (None, "scheduled", "queued", "running", "restarting", "up_for_retry")

        # 3. The run is a zombie: a fail_zombie_run policy marks it failed, read back independently.
        _save(worker.graph, "fail-export-zombie", "fail_zombie_run", "enforce")
        _wait_for("the new try running", lambda: _task_instance(airflow, run_id)["state"] == "running")
        _wait_for("the policy failing the run", lambda: worker.cycle().policies.done >= 1, 180)
        [failed] = _actions(worker.graph, "fail_zombie_run")
        assert (failed["status"], failed["run_id"]) == ("done", run_id)
        assert api_json(airflow, f"/dags/{DAG}/dagRuns/{run_id}")["state"] == "failed"
    finally:
        if api_json(airflow, f"/dags/{DAG}/dagRuns/{run_id}")["state"] in ("queued", "running"):
            client.set_dag_run_state(DAG, run_id, "failed")  # never leave a 15-minute sleeper behind
        client.set_paused(DAG, True)
        client.close()
        worker.close()
