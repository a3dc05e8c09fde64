"""Lineage questions on a known graph in a real FalkorDB.

    DAG A: a1 -> a2 -> a3 (produces postgres://wh/orders), a2 -> a4 (a PostgresOperator)
    DAG B (scheduled on orders): b1 -> b2 (produces s3://lake/orders_agg)
    DAG C (scheduled on orders_agg): c1
    DAG D: d1, d2 (no edges, no runs, unpaused)
"""

from __future__ import annotations

import pytest

from orcai.graph import lineage
from orcai.graph.load import load_assets, load_dag_runs, load_dags, load_task_runs, load_tasks
from orcai.model import AssetRecord, DagRecord, DagRunRecord, TaskRecord, TaskRunRecord

pytestmark = pytest.mark.integration
NOW = 1_800_000_000_000
ORDERS, AGG = "postgres://wh/orders", "s3://lake/orders_agg"


@pytest.fixture
def known(graph):
    load_dags(graph, [DagRecord(d, is_paused=False) for d in "ABCD"])
    tasks = [
        TaskRecord("A", "a1", downstream_task_ids=("a2",)),
        TaskRecord("A", "a2", downstream_task_ids=("a3", "a4")),
        TaskRecord("A", "a3"), TaskRecord("A", "a4", operator="PostgresOperator"),
        TaskRecord("B", "b1", downstream_task_ids=("b2",)), TaskRecord("B", "b2"),
        TaskRecord("C", "c1"), TaskRecord("D", "d1"), TaskRecord("D", "d2"),
    ]
    load_tasks(graph, list("ABCD"), tasks)
    load_assets(graph, [AssetRecord(ORDERS, producers=(("A", "a3"),), scheduled_dags=("B",)),
                        AssetRecord(AGG, producers=(("B", "b2"),), scheduled_dags=("C",)),
                        AssetRecord("file:///tmp/unused")])
    load_dag_runs(graph, [DagRunRecord("A", "r1", "success", run_after=NOW - 1000),
                          DagRunRecord("B", "r1", "failed", run_after=NOW - 500)])
    load_task_runs(graph, [
        TaskRunRecord("A", "r1", "a1", -1, "success", start_date=NOW, end_date=NOW + 10_000),
        TaskRunRecord("A", "r1", "a2", -1, "success", start_date=NOW + 12_000, end_date=NOW + 20_000),
        TaskRunRecord("A", "r1", "a3", -1, "success", start_date=NOW + 21_000, end_date=NOW + 40_000),
        TaskRunRecord("A", "r1", "a4", -1, "failed", start_date=NOW + 21_000, end_date=NOW + 25_000),
        TaskRunRecord("A", "r1", "ghost", -1, "success", start_date=NOW, end_date=NOW + 1),
        TaskRunRecord("B", "r1", "b1", -1, "failed", start_date=NOW + 50_000, end_date=NOW + 51_000),
    ])
    lineage.refresh_criticality(graph)
    return graph


def test_downstream_within_and_across_dags(known):
    walk = lineage.downstream_tasks(known, ["A.a1"])
    assert walk.hops == {"A.a2": 0, "A.a3": 0, "A.a4": 0, "B.b1": 1, "B.b2": 1, "C.c1": 2}
    assert walk.via["B.b1"] == ORDERS and walk.via["C.c1"] == AGG
    assert lineage.downstream_tasks(known, ["A.a4"]).keys == []
    assert lineage.downstream_tasks(known, ["A.a1"], max_dag_hops=0).keys == ["A.a2", "A.a3", "A.a4"]


def test_the_seed_question_all_downstream_tasks_of_x(known):
    rows = known.read("MATCH (t:Task)-[:DEPENDS_ON*1..]->(x:Task {key: $k}) RETURN t.key AS key", {"k": "A.a2"})
    assert sorted(r["key"] for r in rows) == ["A.a3", "A.a4"]


def test_upstream_follows_assets_back_to_producers(known):
    walk = lineage.upstream_tasks(known, ["C.c1"])
    assert walk.keys == ["A.a1", "A.a2", "A.a3", "B.b1", "B.b2"]
    assert walk.hops["B.b2"] == 1 and walk.hops["A.a3"] == 2


def test_blast_radius_of_a_task(known):
    radius = lineage.blast_radius(known, task_key="A.a2")
    assert [t["key"] for t in radius.tasks][:2] == ["A.a3", "B.b1"]  # most critical first
    assert {t["key"] for t in radius.tasks} == {"A.a3", "A.a4", "B.b1", "B.b2", "C.c1"}
    assert [(d["dag_id"], d["criticality"], d["last_state"]) for d in radius.dags] == [
        ("A", 2, "success"), ("B", 1, "failed"), ("C", 0, None)]
    assert radius.assets == [ORDERS, AGG]
    assert radius.systems == ["postgres", "postgres://wh", "s3://lake"]
    states = {t["key"]: t["last_state"] for t in radius.tasks}
    assert states["A.a4"] == "failed" and states["B.b1"] == "failed" and states["C.c1"] is None


def test_blast_radius_of_a_dag_excludes_itself(known):
    radius = lineage.blast_radius(known, dag_id="A")
    assert [d["dag_id"] for d in radius.dags] == ["B", "C"]
    with pytest.raises(ValueError):
        lineage.blast_radius(known)


def test_criticality_is_stored(known):
    rows = known.read("MATCH (t:Task) WHERE t.dag_id = 'A' RETURN t.task_id AS id, t.criticality AS c")
    assert {r["id"]: r["c"] for r in rows if r["id"] != "ghost"} == {"a1": 6, "a2": 5, "a3": 3, "a4": 0}
    assert lineage.refresh_criticality(known) == 0  # nothing changed: nothing written


def test_critical_path_of_a_run(known):
    path = lineage.critical_path(known, "A/r1")
    assert [s["task_id"] for s in path][-3:] == ["a1", "a2", "a3"]
    assert path[-1]["waited_s"] == 1.0


def test_roots_leaves_orphans_and_silent_dags(known):
    assert lineage.roots(known, "A") == ["a1"] and lineage.leaves(known, "A") == ["a3", "a4"]
    assert lineage.orphans(known) == {"tasks": ["A.ghost"], "assets": ["file:///tmp/unused"]}
    silent = [r["dag_id"] for r in lineage.dags_without_recent_runs(known, NOW - 60_000)]
    assert silent == ["C", "D"]
