"""Two shards (ORCAI_SHARD=0/2 and 1/2) build the same graph as one worker."""

from __future__ import annotations

import pytest

from orcai.graph import connect
from orcai.graph.load import ensure_schema
from orcai.shard import Shard
from workers.worker import Worker

pytestmark = pytest.mark.integration

# Who wrote what when, not what Airflow says: differs between two syncs of the same data.
# Airflow itself recomputes some DAGs' next run date on every parse (every ~30 s here),
# so `next_run_at` (and the fingerprint `fp` over a node's properties) may differ too.
# Policies, their actions and the alerts they queue carry the time they were written too.
VOLATILE = {"synced_until", "tasks_synced_at", "deleted_at", "detected_at", "touched_at", "expires_at", "holder",
            "next_run_at", "fp", "at", "created_at", "updated_at", "done_at",
            # what the worker judged at its own moment: the bands it judged with, forecasts of
            # running runs (relative to now), when a symptom began
            "band_at", "band_history", "forecast_at", "eta_p50", "eta_p80", "eta_history", "forecast_tasks",
            "breach_risk", "breach_risk_held", "progress", "watch_task", "watch_reason", "incident_at", "breakdown",
            # an action's reason and facts, and its alert's payload, quote forecasts made at that moment
            "reason", "facts", "payload"}
# Each worker's heartbeat, cycle lock and sync state (watermark, cursors); the default policies, installed once per graph and
# stamped with when (their actions and alerts are compared).
# Incidents are judged on the whole estate by every shard, keyed by when they opened.
BOOKKEEPING = ("Worker", "Lock", "Policy", "PolicyVersion", "SyncState", "Incident")


def graph_contents(graph) -> tuple[dict, set]:
    nodes = {}
    for row in graph.read("MATCH (n) RETURN labels(n)[0] AS label, properties(n) AS props"):
        if row["label"] in BOOKKEEPING:
            continue
        props = {k: v for k, v in row["props"].items() if k not in VOLATILE}
        key = props.get("key") or props.get("dag_id") or props.get("uri") or props.get("name")
        assert (row["label"], key) not in nodes, f"duplicate {row['label']} {key}"
        nodes[(row["label"], key)] = props
    edges = {(r["a"], r["rel"], r["b"]) for r in graph.read(
        "MATCH (a)-[e]->(b) WHERE NOT a:Incident RETURN type(e) AS rel, "
        "coalesce(a.key, a.dag_id, a.uri, a.name) AS a, coalesce(b.key, b.dag_id, b.uri, b.name) AS b")}
    return nodes, edges


def differences(nodes: dict, expected: dict) -> dict:
    """Per node: the properties that differ, as (got, expected); missing nodes as None."""
    diff = {}
    for key in nodes.keys() | expected.keys():
        got, want = nodes.get(key), expected.get(key)
        if got is None or want is None:
            diff[key] = (got, want)
        elif got != want:
            diff[key] = {p: (got.get(p), want.get(p)) for p in got.keys() | want.keys() if got.get(p) != want.get(p)}
    return diff


def run_cycle(airflow, graph_uri: str, shard: str):
    settings = airflow.settings(graph_uri=graph_uri, shard=shard)
    worker = Worker(settings)
    try:
        outcome = worker.cycle()
    finally:
        worker.close()
    assert outcome is not None and outcome.sync.dag_errors == {} and not outcome.failed_stages
    return outcome


def test_two_shards_build_the_same_graph_as_one_worker(airflow_with_runs, graph_uri):
    single_uri, sharded_uri = f"{graph_uri}_single", f"{graph_uri}_sharded"
    for uri in (single_uri, sharded_uri):
        ensure_schema(connect(airflow_with_runs.settings(graph_uri=uri)))

    whole = run_cycle(airflow_with_runs, single_uri, "0/1")
    parts = [run_cycle(airflow_with_runs, sharded_uri, f"{i}/2") for i in range(2)]

    assert all(part.sync.dags > 0 for part in parts), "both shards own some DAGs"
    assert sum(part.sync.dags for part in parts) == whole.sync.dags
    single = graph_contents(connect(airflow_with_runs.settings(graph_uri=single_uri)))
    sharded = graph_contents(connect(airflow_with_runs.settings(graph_uri=sharded_uri)))
    assert differences(sharded[0], single[0]) == {}
    assert sharded[1] == single[1]
    assert any(label == "Asset" for label, _ in single[0]) and single[1]


def test_a_shard_marks_only_its_own_vanished_dags_deleted(airflow_with_runs, graph):
    """A DAG that vanished from Airflow is marked by its own shard, never by another."""
    from orcai.airflow import AirflowClient
    from orcai.graph.load import load_dags
    from orcai.model import DagRecord
    from orcai.sync import sync_once
    ghosts = [DagRecord(dag_id=f"vanished_{i}", is_paused=False) for i in range(12)]
    load_dags(graph, ghosts)
    mine = [g.dag_id for g in ghosts if Shard(0, 2).owns(g.dag_id)]
    assert 0 < len(mine) < len(ghosts)

    settings = airflow_with_runs.settings(shard="0/2")
    report = sync_once(AirflowClient(settings), graph, settings)

    deleted = {r["dag_id"] for r in graph.read("MATCH (d:Dag) WHERE d.is_deleted RETURN d.dag_id AS dag_id")}
    assert sorted(report.deleted_dags) == sorted(mine) and deleted == set(mine)
