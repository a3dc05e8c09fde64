"""A small known lineage graph, for query and page tests.

    DAG A: a1 -> a2 -> a3 (produces postgres://wh/orders), a2 -> a4 (a PostgresOperator)
    DAG B (scheduled on orders): b1 -> b2 (produces s3://lake/orders_agg)
    DAG C (scheduled on orders_agg): c1
    DAG D: d1, d2 (no edges, no runs, unpaused)
    A task run of a task Airflow no longer has (A.ghost), and an asset nobody uses.
"""

from orcai.lineage.criticality import refresh_criticality
from orcai.graph.load import load_assets, load_dag_runs, load_dags, load_task_runs, load_tasks
from orcai.model import AssetRecord, DagRecord, DagRunRecord, TaskRecord, TaskRunRecord

NOW = 1_800_000_000_000
ORDERS, AGG = "postgres://wh/orders", "s3://lake/orders_agg"


def load_known_lineage(graph):
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
        TaskRunRecord("A", "r1", "a1", -1, "success", start_date=NOW, end_date=NOW + 10_000, duration_s=10.0),
        TaskRunRecord("A", "r1", "a2", -1, "success", start_date=NOW + 12_000, end_date=NOW + 20_000),
        TaskRunRecord("A", "r1", "a3", -1, "success", start_date=NOW + 21_000, end_date=NOW + 40_000, duration_s=19.0),
        TaskRunRecord("A", "r1", "a4", -1, "failed", start_date=NOW + 21_000, end_date=NOW + 25_000),
        TaskRunRecord("A", "r1", "ghost", -1, "success", start_date=NOW, end_date=NOW + 1),
        TaskRunRecord("B", "r1", "b1", -1, "failed", start_date=NOW + 50_000, end_date=NOW + 51_000),
    ])
    refresh_criticality(graph)
    return graph
