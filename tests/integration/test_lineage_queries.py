"""Lineage questions on a known graph (tests/integration/known_graph.py) in a real FalkorDB."""

from __future__ import annotations

import pytest

from orcai.graph.run_store import recent_task_runs
from orcai.lineage.blast_radius import blast_radius
from orcai.lineage.criticality import refresh_criticality
from orcai.lineage.view import neighbourhood
from orcai.lineage.walks import downstream_tasks, upstream_tasks
from tests.integration.known_graph import AGG, ORDERS, load_known_lineage

pytestmark = pytest.mark.integration


@pytest.fixture
def known(graph):
    return load_known_lineage(graph)


def test_downstream_within_and_across_dags(known):
    walk = downstream_tasks(known, ["A.a1"])
    assert walk.hops == {"A.a2": 0, "A.a3": 0, "A.a4": 0, "B.b1": 1, "B.b2": 1, "C.c1": 2}
    assert walk.via["B.b1"] == ORDERS and walk.via["C.c1"] == AGG
    assert downstream_tasks(known, ["A.a4"]).keys == []
    assert downstream_tasks(known, ["A.a1"], max_dag_hops=0).keys == ["A.a2", "A.a3", "A.a4"]


def test_the_seed_question_all_downstream_tasks_of_x(known):
    rows = known.read("MATCH (t:Task)-[:DEPENDS_ON*1..]->(x:Task {key: $k}) RETURN t.key AS key", {"k": "A.a2"})
    assert sorted(r["key"] for r in rows) == ["A.a3", "A.a4"]


def test_upstream_follows_assets_back_to_producers(known):
    walk = upstream_tasks(known, ["C.c1"])
    assert walk.keys == ["A.a1", "A.a2", "A.a3", "B.b1", "B.b2"]
    assert walk.hops["B.b2"] == 1 and walk.hops["A.a3"] == 2


def test_blast_radius_of_a_task(known):
    radius = blast_radius(known, task_key="A.a2")
    assert [t["key"] for t in radius.tasks][:2] == ["A.a3", "B.b1"]  # most critical first
    assert {t["key"] for t in radius.tasks} == {"A.a3", "A.a4", "B.b1", "B.b2", "C.c1"}
    assert [(d["dag_id"], d["criticality"], d["last_state"]) for d in radius.dags] == [
        ("A", 2, "success"), ("B", 1, "failed"), ("C", 0, None)]
    assert radius.assets == [ORDERS, AGG]
    assert radius.systems == ["postgres", "postgres://wh", "s3://lake"]
    states = {t["key"]: t["last_state"] for t in radius.tasks}
    assert states["A.a4"] == "failed" and states["B.b1"] == "failed" and states["C.c1"] is None


def test_blast_radius_of_a_dag_excludes_itself(known):
    radius = blast_radius(known, dag_id="A")
    assert [d["dag_id"] for d in radius.dags] == ["B", "C"]
    with pytest.raises(ValueError):
        blast_radius(known)


def test_criticality_is_stored(known):
    rows = known.read("MATCH (t:Task) WHERE t.dag_id = 'A' RETURN t.task_id AS id, t.criticality AS c")
    assert {r["id"]: r["c"] for r in rows if r["id"] != "ghost"} == {"a1": 6, "a2": 5, "a3": 3, "a4": 0}
    assert refresh_criticality(known) == 0  # nothing changed: nothing written


def test_neighbourhood_of_a_task_draws_assets_systems_and_consumers(known):
    view = neighbourhood(known, task_key="A.a3", depth=1)
    ids = {n["id"] for n in view.nodes}
    assert {"task:A.a3", "task:A.a2", "task:A.a1", "task:B.b1", "task:B.b2",
            f"asset:{ORDERS}", f"asset:{AGG}", "system:postgres://wh"} <= ids
    assert "task:C.c1" not in ids  # two DAG hops away
    edges = {(e["source"], e["target"], e["kind"]) for e in view.edges}
    assert ("task:A.a2", "task:A.a3", "DEPENDS_ON") in edges
    assert ("task:A.a3", f"asset:{ORDERS}", "PRODUCES") in edges
    assert (f"asset:{ORDERS}", "task:B.b1", "TRIGGERS") in edges
    assert (f"asset:{AGG}", "dag:C", "TRIGGERS") in edges  # C itself is out of reach: a DAG node
    start = next(n for n in view.nodes if n["id"] == "task:A.a3")
    assert start["direction"] == "start" and start["state"] == "success"


def test_neighbourhood_is_capped_nearest_first(known):
    view = neighbourhood(known, dag_id="A", depth=2, max_nodes=5)
    tasks = [n for n in view.nodes if n["kind"] == "task"]
    assert len(tasks) == 5 and view.hidden == 2  # 4 of A + nearest of B; b2 and c1 left out
    assert {n["key"] for n in tasks} >= {"A.a1", "A.a2", "A.a3", "A.a4"}


def test_recent_task_runs_newest_first(known):
    runs = recent_task_runs(known, "A.a2")
    assert [(r["run_id"], r["state"]) for r in runs] == [("r1", "success")]
