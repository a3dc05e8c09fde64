"""The graph contract, run against every engine available here.

- FalkorDB through its native client: the whole contract (always);
- a real Neo4j 5 through the neo4j-driver adapter: the whole contract, when
  ORCAI_TEST_NEO4J_URI is set (bolt://user:password@host:7687/db);
- the neo4j-driver adapter against FalkorDB's experimental Bolt listener, on FalkorDB
  servers of their own (a Bolt problem must not take the other tests down).

Measured with FalkorDB 4.16.3 over Bolt:
- the database name is ignored: Bolt always serves the graph named "falkordb";
- every read query ORC AI runs answers exactly as through the native client;
- `CREATE CONSTRAINT` and re-creating an existing index fail with "An unknown error
  occurred" (the adapter then falls back to plain indexes);
- writes of DAGs, tasks, dependencies, DAG runs and task runs work (the TaskRun upsert,
  MERGE with ON CREATE SET on stub parents, aborted the whole server, SIGABRT in
  falkordb.so, while its rows went as a list of maps; as lists, orcai/graph/row_shapes.py,
  it does not);
- with the append-only log on, the first write over Bolt dropped the connection and the
  listener stopped accepting new ones (ORC AI runs FalkorDB on snapshots only).
So the neo4j adapter is exercised here for reads, schema and the whole load; the full
write contract runs on a real Neo4j with ORCAI_TEST_NEO4J_URI.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import random
from urllib.parse import urlparse

import pytest

from orcai.graph.falkor import FalkorGraph
from orcai.graph import forecast_store, load
from orcai.graph.load import (
    ensure_schema, load_dag_runs, load_dags, load_task_runs, load_tasks, mark_missing_dags,
    read_watermarks, set_watermarks,
)
from orcai.graph.neo4j_adapter import Neo4jGraph
from orcai.graph.sync_store import dag_sync_marks, read_state, set_tasks_synced, write_state
from orcai.graph.worker_store import worker_heartbeats, write_heartbeat
from orcai.graph.dag_store import (
    dag_overview, failed_dags_since, live_dag_ids, run_states_since,
)
from orcai.localstack.falkordb import start_falkordb
from orcai.model import DagRecord, DagRunRecord, TaskRecord, TaskRunRecord
from orcai.sync_plan import StreamPass, SyncState
from tests.conftest import FALKOR_BOLT_PORT, FALKOR_PORT

pytestmark = pytest.mark.integration
NOW = 1_800_000_000_000
_names = itertools.count()
NEO4J_URI = os.environ.get("ORCAI_TEST_NEO4J_URI")
BOLT_SERVER_PORT, BOLT_PORT = FALKOR_PORT + 1, FALKOR_BOLT_PORT + 1
ENGINES = ["falkordb"] + (["neo4j"] if NEO4J_URI else [])


@pytest.fixture
def falkordb_bolt_server(tmp_path):
    service = start_falkordb(tmp_path, BOLT_SERVER_PORT, bolt_port=BOLT_PORT)
    yield service
    service.stop()


@pytest.fixture(params=ENGINES)
def engine(request, falkordb_server):
    name = f"contract{next(_names)}"
    if request.param == "falkordb":
        graph = FalkorGraph("127.0.0.1", FALKOR_PORT, name)
    else:
        parsed = urlparse(NEO4J_URI)
        graph = Neo4jGraph(f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 7687}",
                           parsed.path.strip("/") or None, parsed.username, parsed.password)
        graph.write("MATCH (n) DETACH DELETE n")
    ensure_schema(graph)
    yield graph
    graph.close()


def small_deployment():
    dags = [DagRecord("etl", is_paused=False, schedule="@hourly", tags=("etl",), owners=("ops",)),
            DagRecord("report", is_paused=True)]
    tasks = [TaskRecord("etl", "extract", downstream_task_ids=("transform",)),
             TaskRecord("etl", "transform", downstream_task_ids=("load",)),
             TaskRecord("etl", "load"), TaskRecord("report", "build")]
    runs = [DagRunRecord("etl", f"r{i}", state, run_after=NOW - i * 3_600_000, duration_s=10.0 + i)
            for i, state in enumerate(["failed", "failed", "success", "success"])]
    task_runs = [TaskRunRecord("etl", f"r{i}", task, -1, "success", start_date=NOW - i * 3_600_000,
                               duration_s=2.0) for i in range(4) for task in ("extract", "transform", "load")]
    return dags, tasks, runs, task_runs


def load_all(graph, dags, tasks, runs, task_runs):
    counts = load_dags(graph, dags)
    counts += load_tasks(graph, [d.dag_id for d in dags], tasks)
    counts += load_dag_runs(graph, runs)
    counts += load_task_runs(graph, task_runs)
    return counts


def test_load_is_idempotent(engine):
    first = load_all(engine, *small_deployment())
    second = load_all(engine, *small_deployment())
    # DAGs + owner + tag + tasks + runs + task runs; HAS_TASK, OWNED_BY, TAGGED, DEPENDS_ON,
    # HAS_RUN, and per task run HAS_TASK_RUN + INSTANCE_OF.
    assert first.nodes_created == 2 + 1 + 1 + 4 + 4 + 12
    assert first.relationships_created == 4 + 1 + 1 + 2 + 4 + 12 * 2
    assert second.total == 0


def test_a_task_run_that_changes_keeps_one_edge_of_each_kind(engine):
    """A changed task run is rewritten, not attached again (its edges are created only
    with the node: load._UPSERT_TASK_RUNS)."""
    dags, tasks, runs, task_runs = small_deployment()
    load_all(engine, dags, tasks, runs, task_runs)
    changed = [dataclasses.replace(tr, state="success", end_date=(tr.start_date or NOW) + 60_000, duration_s=60.0,
                       hostname="worker-2") for tr in task_runs]
    counts = load_task_runs(engine, changed) + load_task_runs(engine, changed)
    assert counts.nodes_created == counts.relationships_created == 0 and counts.properties_set > 0
    edges = engine.read("MATCH (tr:TaskRun) OPTIONAL MATCH (r:DagRun)-[h:HAS_TASK_RUN]->(tr) "
                        "WITH tr, count(h) AS runs OPTIONAL MATCH (tr)-[i:INSTANCE_OF]->(:Task) "
                        "RETURN tr.key AS key, runs, count(i) AS tasks, tr.hostname AS hostname")
    assert len(edges) == len(task_runs)
    assert all(row["runs"] == 1 and row["tasks"] == 1 and row["hostname"] == "worker-2" for row in edges), edges


def test_overview_and_counts(engine):
    load_all(engine, *small_deployment())
    overview = {row["dag_id"]: row for row in dag_overview(engine, last_n_runs=3)}
    assert [r["state"] for r in overview["etl"]["runs"]] == ["failed", "failed", "success"]
    assert overview["etl"]["tags"] == ["etl"] and overview["report"]["is_paused"] is True
    states = {r["state"]: r["runs"] for r in run_states_since(engine, NOW - 86_400_000)}
    assert states == {"failed": 2, "success": 2}
    assert failed_dags_since(engine, NOW - 86_400_000)[0]["failures"] == 2


def test_removed_dependency_and_task_follow_airflow(engine):
    dags, tasks, runs, task_runs = small_deployment()
    load_all(engine, dags, tasks, runs, task_runs)
    # 'transform' removed from the DAG: extract now feeds load directly.
    changed = [TaskRecord("etl", "extract", downstream_task_ids=("load",)), TaskRecord("etl", "load")]
    load_tasks(engine, ["etl"], changed)
    edges = engine.read("MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) RETURN a.task_id AS a, b.task_id AS b")
    assert edges == [{"a": "load", "b": "extract"}]
    removed = engine.read("MATCH (t:Task {key: 'etl.transform'}) RETURN t.is_deleted AS gone")
    assert removed == [{"gone": True}]


def test_missing_dags_are_marked_not_removed(engine):
    load_all(engine, *small_deployment())
    set_watermarks(engine, {"etl": NOW, "report": NOW})
    assert mark_missing_dags(engine, ["etl"], NOW) == ["report"]
    rows = engine.read("MATCH (d:Dag {dag_id: 'report'}) RETURN d.is_deleted AS gone, d.deleted_at AS at")
    assert rows == [{"gone": True, "at": NOW}]
    assert read_watermarks(engine) == {"etl": NOW}  # if it comes back, it reads its history again
    assert [r["dag_id"] for r in dag_overview(engine, 3)] == ["etl"]
    load_dags(engine, [DagRecord("report", is_paused=True)])  # it comes back
    assert sorted(r["dag_id"] for r in dag_overview(engine, 3)) == ["etl", "report"]


def test_mass_disappearance_is_refused(engine):
    dags = [DagRecord(f"d{i}", is_paused=False) for i in range(6)]
    load_dags(engine, dags)
    assert mark_missing_dags(engine, [], NOW) == []  # Airflow listing nothing looks like a bug
    assert len(dag_overview(engine, 1)) == 6


def test_watermarks_round_trip(engine):
    load_all(engine, *small_deployment())
    set_watermarks(engine, {"etl": NOW, "report": NOW - 5})
    assert read_watermarks(engine) == {"etl": NOW, "report": NOW - 5}


def test_sync_state_round_trip(engine):
    """A pass under way with its cursors, then complete: finished fields are gone, not stale."""
    load_all(engine, *small_deployment())
    under_way = SyncState(version_id="01a", assets_at=NOW - 9, current=StreamPass(
        since=NOW - 100, until=NOW, began_at=NOW, runs_cursor=None, task_runs_cursor="kQM", runs_read=7,
        task_runs_read=200, task_runs_total=900, covered_until=NOW - 50))
    write_state(engine, "0/2", under_way)
    assert read_state(engine, "0/2") == under_way and read_state(engine, "1/2") == SyncState()
    done = SyncState(watermark=NOW, version_id="01b", assets_at=NOW)
    write_state(engine, "0/2", done)
    assert read_state(engine, "0/2") == done
    set_tasks_synced(engine, {"etl": NOW - 1})
    assert dag_sync_marks(engine) == {"etl": (None, NOW - 1), "report": (None, None)}



def test_both_adapters_read_the_same_answers(falkordb_bolt_server):
    """The same data read through the native client and through the neo4j driver."""
    native = FalkorGraph("127.0.0.1", BOLT_SERVER_PORT, "falkordb")  # the graph Bolt serves
    native.write("MATCH (n) DETACH DELETE n")
    ensure_schema(native)
    load_all(native, *small_deployment())
    load_dag_runs(native, [DagRunRecord("etl", "branched", "success", start_date=NOW)])
    load_task_runs(native, [TaskRunRecord("etl", "branched", "extract", -1, "success", start_date=NOW),
                            TaskRunRecord("etl", "branched", "load", -1, "skipped", start_date=NOW)])
    write_heartbeat(native, "w", {"last_sync_at": NOW, "last_error": None})
    bolt = Neo4jGraph(f"bolt://127.0.0.1:{BOLT_PORT}", None, "falkordb", "")
    try:
        assert len(dag_overview(bolt, 3)) == 2
        past = lambda g: forecast_store.past_runs(g, ["etl"], NOW)
        assert past(bolt) == past(native) == [{"dag_id": "etl", "run_id": "branched", "ran": ["extract"],
                                               "skipped": ["load"], "close_s": None}]
        for ask in (lambda g: dag_overview(g, 3), lambda g: run_states_since(g, NOW - 86_400_000),
                    lambda g: failed_dags_since(g, 0), worker_heartbeats, live_dag_ids,
                    read_watermarks):
            assert ask(bolt) == ask(native)
    finally:
        bolt.close()


def test_neo4j_adapter_schema_and_structure_over_falkordb_bolt(falkordb_bolt_server):
    bolt = Neo4jGraph(f"bolt://127.0.0.1:{BOLT_PORT}", None, "falkordb", "")
    try:
        ensure_schema(bolt)  # constraints rejected: falls back to plain indexes
        ensure_schema(bolt)  # and again: existing indexes are not an error
        dags, tasks, runs, _ = small_deployment()
        first = load_dags(bolt, dags) + load_tasks(bolt, ["etl", "report"], tasks) + load_dag_runs(bolt, runs)
        again = load_dags(bolt, dags) + load_tasks(bolt, ["etl", "report"], tasks) + load_dag_runs(bolt, runs)
        assert first.nodes_created == 2 + 1 + 1 + 4 + 4 and again.total == 0
        assert [r["state"] for r in dag_overview(bolt, 2)[0]["runs"]] == ["failed", "failed"]
    finally:
        bolt.close()


def test_neo4j_adapter_write_returning_over_falkordb_bolt(falkordb_bolt_server):
    """The adapter's write-and-read (every upsert uses it): counts and rows of one query."""
    bolt = Neo4jGraph(f"bolt://127.0.0.1:{BOLT_PORT}", None, "falkordb", "")
    try:
        counts, rows = bolt.write_returning("UNWIND [1, 2] AS i CREATE (n:Probe {i: i}) RETURN n.i AS i")
        assert (counts.nodes_created, counts.properties_set, rows) == (2, 2, [{"i": 1}, {"i": 2}])
        assert bolt.write_returning("MATCH (n:Probe) WHERE n.i > 5 SET n.j = 1 RETURN n.i AS i")[1] == []
    finally:
        bolt.close()


def test_neo4j_adapter_runs_whose_fields_turn_null_over_falkordb_bolt(falkordb_bolt_server):
    """Upserts through the neo4j driver leave exactly what the record says: the properties a
    write returns as still set are removed one per query (FalkorDB's removal bug,
    orcai/graph/properties.py), and the fingerprint held back until then."""
    bolt = Neo4jGraph(f"bolt://127.0.0.1:{BOLT_PORT}", None, "falkordb", "")
    native = FalkorGraph("127.0.0.1", BOLT_SERVER_PORT, "falkordb")  # the graph Bolt serves
    full = dict(state="success", run_type="scheduled", logical_date=1, run_after=2, queued_at=3, start_date=4,
                end_date=5, duration_s=1.5, triggered_by="timetable")
    rng = random.Random(5)
    try:
        ensure_schema(bolt)
        for i in range(12):
            first = DagRunRecord("etl", f"r{i}", **full)
            cleared = dataclasses.replace(first, **{k: None for k in rng.sample(sorted(full), rng.randint(2, 5))})
            load_dag_runs(bolt, [first])
            load_dag_runs(bolt, [cleared])
            stored = dict(native.read("MATCH (n:DagRun {key: $k}) RETURN properties(n) AS p", {"k": cleared.key})[0]["p"])
            assert stored.pop("fp") == load.fingerprint(cleared.props()), cleared
            assert stored == {k: v for k, v in cleared.props().items() if v is not None}, cleared
            assert load_dag_runs(bolt, [cleared]).total == 0  # nothing left to write
    finally:
        bolt.close()


def graph_contents(graph) -> tuple[list, list]:
    """Every node (labels, properties) and edge (type, end keys), sorted: to compare graphs."""
    key = "coalesce(n.key, n.dag_id, n.name, n.uri)"
    nodes = graph.read("MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")
    edges = graph.read(f"MATCH (n)-[e]->(m) RETURN type(e) AS type, {key} AS a, "
                       f"{key.replace('n.', 'm.')} AS b")
    return (sorted((r["labels"], sorted(dict(r["props"]).items())) for r in nodes),
            sorted((r["type"], r["a"], r["b"]) for r in edges))


def test_neo4j_adapter_task_runs_over_falkordb_bolt(falkordb_bolt_server):
    """The whole load through the neo4j driver stores what the native client stores, and a
    second one writes nothing. (Until the upserts sent their rows as lists, row_shapes.py,
    the task-run upsert over Bolt aborted FalkorDB 4.16.3.)"""
    bolt = Neo4jGraph(f"bolt://127.0.0.1:{BOLT_PORT}", None, "falkordb", "")
    native = FalkorGraph("127.0.0.1", BOLT_SERVER_PORT, "native")
    try:
        ensure_schema(bolt)
        ensure_schema(native)
        assert load_all(bolt, *small_deployment()).nodes_created == 24
        assert load_all(bolt, *small_deployment()).total == 0
        load_all(native, *small_deployment())
        through_bolt = graph_contents(FalkorGraph("127.0.0.1", BOLT_SERVER_PORT, "falkordb"))
        assert len(through_bolt[0]) == 24 and through_bolt == graph_contents(native)
    finally:
        bolt.close()
