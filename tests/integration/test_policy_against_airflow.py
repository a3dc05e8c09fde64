"""The shipped "two failures in a row → pause" policy against a real Airflow 3.3.

flaky_ingest is triggered twice with conf {"fail": true}; the real worker (sync, detection,
policies) then runs cycles. In dry run it records a would-be pause and Airflow is untouched;
in enforce it pauses the DAG (the REST API confirms), the Action is in the graph linked to
its policy and DAG, and the notice waits in the alert outbox; undo unpauses it.
"""

from __future__ import annotations

import json
import time

from orcai.airflow import AirflowClient
from orcai.alerts.outbox import pending
from orcai.policy import store
from orcai.policy.runner import undo_pause
from tests.conftest import api_json, trigger, wait_for_quiet_airflow
from workers.worker import Worker

DAG = "flaky_ingest"
POLICY = "two-failures-pause"


def _two_forced_failures(client: AirflowClient) -> None:
    deadline = time.monotonic() + 180
    while DAG not in {d.dag_id for d in client.list_dags()}:
        assert time.monotonic() < deadline, f"{DAG} was not parsed within 180 s"
        time.sleep(1)
    client.set_paused(DAG, False)  # a paused DAG's triggered runs would stay queued
    wait_for_quiet_airflow(client)
    for _ in range(2):
        trigger(client, DAG, conf={"fail": True})
    wait_for_quiet_airflow(client)
    runs = sorted(client.list_dag_runs(DAG, None), key=lambda r: r.run_after)
    assert [str(getattr(r.state, "value", r.state)) for r in runs[-2:]] == ["failed", "failed"]


def _actions(graph) -> list[dict]:
    rows = graph.read("MATCH (p:Policy)-[:FIRED]->(a:Action)-[:TARGETS]->(d:Dag) "
                      "RETURN properties(a) AS a, p.name AS policy, d.dag_id AS dag ORDER BY a.at, a.key")
    return [{**r["a"], "linked_policy": r["policy"], "linked_dag": r["dag"]} for r in rows]


def test_shipped_policy_dry_run_then_enforce_pauses_flaky_ingest_and_undo_unpauses(airflow, graph_uri):
    client = AirflowClient(airflow.settings())
    _two_forced_failures(client)
    worker = Worker(airflow.settings(graph_uri=graph_uri, sync_lookback_days=1))
    try:
        # 1. The shipped policy is installed in dry run: a would-be pause, Airflow untouched.
        assert worker.cycle() is not None
        assert store.get_policy(worker.graph, POLICY).mode == "dry_run"
        [would] = [a for a in _actions(worker.graph) if a["dag_id"] == DAG]
        assert (would["status"], would["kind"], would["dry_run"], would["linked_policy"], would["linked_dag"]) == (
            "would_do", "pause", True, POLICY, DAG)
        assert json.loads(would["facts"])["dag"]["consecutive_failures"] >= 2
        assert api_json(airflow, f"/dags/{DAG}")["is_paused"] is False

        # 2. An admin switches it to enforce: the worker pauses the DAG, confirmed by Airflow.
        store.change_policy(worker.graph, POLICY, "admin", int(time.time() * 1000), "mode", mode="enforce")
        assert worker.cycle().policies.done == 1
        assert api_json(airflow, f"/dags/{DAG}")["is_paused"] is True
        [done] = [a for a in _actions(worker.graph) if a["dag_id"] == DAG and not a["dry_run"]]
        assert (done["status"], done["kind"], done["policy_version"], done["linked_policy"]) == (
            "done", "pause", 2, POLICY)
        assert "2 failed run(s) in a row" in done["reason"] or "failed run(s) in a row" in done["reason"]

        # The Slack notice waits in the outbox for the dispatcher (Slack itself is never called here).
        notices = {a.payload["outcome"]: a for a in pending(worker.graph, int(time.time() * 1000))
                   if a.kind == "policy_action" and a.dag_id == DAG}
        assert set(notices) == {"would_do", "done"}
        payload = notices["done"].payload
        assert (payload["policy"], payload["version"], payload["action"], payload["mode"]) == (
            POLICY, 2, "pause", "enforce")
        assert payload["undo"] and payload["facts"]["dag"]["id"] == DAG and payload["reason"]

        # 3. Idempotent: another cycle acts on nothing and records nothing new.
        before = len(_actions(worker.graph))
        outcome = worker.cycle()
        assert outcome.policies.fired == 0 and len(_actions(worker.graph)) == before

        # 4. Undo from the action log unpauses it in Airflow.
        assert undo_pause(worker.graph, client, done["key"], "admin", int(time.time() * 1000)) == ("done", None)
        assert api_json(airflow, f"/dags/{DAG}")["is_paused"] is False
        assert store.get_action(worker.graph, done["key"])["status"] == "undone"
    finally:
        client.set_paused(DAG, True)
        client.close()
        worker.close()
