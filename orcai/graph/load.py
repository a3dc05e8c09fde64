"""Writing records into the graph: batched `UNWIND $rows … MERGE`, idempotent.

Each node carries `fp`, a fingerprint of its properties; a row whose fingerprint is
unchanged is skipped inside the query, so re-running a sync writes nothing at all.
Labels and relationship types are fixed in this file, never built from input.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Iterable, Iterator, Sequence

from orcai.graph.base import Graph, IndexSpec, WriteCounts
from orcai.model import DagRecord, DagRunRecord, TaskRecord, TaskRunRecord, task_key

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000

SCHEMA = [
    IndexSpec("Dag", "dag_id"),
    IndexSpec("Task", "key"),
    IndexSpec("DagRun", "key"),
    IndexSpec("TaskRun", "key"),
    IndexSpec("Worker", "name"),
    IndexSpec("Task", "dag_id", unique=False),
    IndexSpec("DagRun", "dag_id", unique=False),
]

_UPSERT_DAGS = """
UNWIND $rows AS row
MERGE (d:Dag {dag_id: row.props.dag_id})
WITH d, row WHERE d.fp IS NULL OR d.fp <> row.fp
SET d += row.props, d.fp = row.fp, d.is_deleted = false
"""

_UPSERT_TASKS = """
UNWIND $rows AS row
MERGE (t:Task {key: row.props.key})
WITH t, row WHERE t.fp IS NULL OR t.fp <> row.fp
SET t += row.props, t.fp = row.fp, t.is_deleted = false
WITH t, row
MERGE (d:Dag {dag_id: row.props.dag_id})
MERGE (d)-[:HAS_TASK]->(t)
"""

_MERGE_DEPENDENCIES = """
UNWIND $rows AS row
MATCH (downstream:Task {key: row.downstream}), (upstream:Task {key: row.upstream})
MERGE (downstream)-[:DEPENDS_ON]->(upstream)
"""

_DELETE_STALE_DEPENDENCIES = """
MATCH (a:Task)-[e:DEPENDS_ON]->(b:Task)
WHERE a.dag_id IN $dag_ids AND NOT (a.key + '>' + b.key) IN $edge_keys
DELETE e
"""

_MARK_REMOVED_TASKS = """
MATCH (t:Task)
WHERE t.dag_id IN $dag_ids AND NOT t.key IN $task_keys AND coalesce(t.is_deleted, false) = false
SET t.is_deleted = true, t.fp = null
"""

# Stub parents are MERGEd (not MATCHed) so a child never loses its edge when it
# arrives before its parent; the parent's properties fill in when it is synced.
_UPSERT_DAG_RUNS = """
UNWIND $rows AS row
MERGE (r:DagRun {key: row.props.key})
WITH r, row WHERE r.fp IS NULL OR r.fp <> row.fp
SET r += row.props, r.fp = row.fp
WITH r, row
MERGE (d:Dag {dag_id: row.props.dag_id})
MERGE (d)-[:HAS_RUN]->(r)
"""

_UPSERT_TASK_RUNS = """
UNWIND $rows AS row
MERGE (tr:TaskRun {key: row.props.key})
WITH tr, row WHERE tr.fp IS NULL OR tr.fp <> row.fp
SET tr += row.props, tr.fp = row.fp
WITH tr, row
MERGE (r:DagRun {key: row.dag_run_key})
ON CREATE SET r.dag_id = row.props.dag_id, r.run_id = row.props.run_id
MERGE (r)-[:HAS_TASK_RUN]->(tr)
WITH tr, row
MERGE (t:Task {key: row.task_key})
ON CREATE SET t.dag_id = row.props.dag_id, t.task_id = row.props.task_id
MERGE (tr)-[:INSTANCE_OF]->(t)
"""

_MARK_MISSING_DAGS = """
MATCH (d:Dag)
WHERE d.source = 'airflow' AND NOT d.dag_id IN $present AND coalesce(d.is_deleted, false) = false
SET d.is_deleted = true, d.deleted_at = $now, d.fp = null
RETURN d.dag_id AS dag_id
"""

_SET_WATERMARKS = """
UNWIND $rows AS row
MATCH (d:Dag {dag_id: row.dag_id})
SET d.synced_until = row.synced_until
"""


def fingerprint(props: dict) -> str:
    encoded = json.dumps(props, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(encoded.encode(), digest_size=8).hexdigest()


def batches(rows: Sequence, size: int = BATCH_SIZE) -> Iterator[Sequence]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def write_batched(graph: Graph, cypher: str, rows: Sequence[dict]) -> WriteCounts:
    counts = WriteCounts()
    for chunk in batches(rows):
        counts += graph.write(cypher, {"rows": list(chunk)})
    return counts


def ensure_schema(graph: Graph) -> None:
    graph.ensure_indexes(SCHEMA)


def _rows(records: Iterable) -> list[dict]:
    rows = []
    for record in records:
        props = record.props()
        rows.append({"props": props, "fp": fingerprint(props)})
    return rows


def load_dags(graph: Graph, dags: Iterable[DagRecord]) -> WriteCounts:
    return write_batched(graph, _UPSERT_DAGS, _rows(dags))


def load_tasks(graph: Graph, dag_ids: list[str], tasks: list[TaskRecord]) -> WriteCounts:
    """Upsert the tasks of `dag_ids` and make their DEPENDS_ON edges match exactly."""
    counts = write_batched(graph, _UPSERT_TASKS, _rows(tasks))
    edges = [
        {"downstream": task_key(task.dag_id, child), "upstream": task.key}
        for task in tasks for child in task.downstream_task_ids
    ]
    counts += write_batched(graph, _MERGE_DEPENDENCIES, edges)
    if dag_ids:
        edge_keys = [f"{e['downstream']}>{e['upstream']}" for e in edges]
        counts += graph.write(_DELETE_STALE_DEPENDENCIES, {"dag_ids": dag_ids, "edge_keys": edge_keys})
        counts += graph.write(_MARK_REMOVED_TASKS,
                              {"dag_ids": dag_ids, "task_keys": [t.key for t in tasks]})
    return counts


def load_dag_runs(graph: Graph, runs: Iterable[DagRunRecord]) -> WriteCounts:
    return write_batched(graph, _UPSERT_DAG_RUNS, _rows(runs))


def load_task_runs(graph: Graph, task_runs: Iterable[TaskRunRecord]) -> WriteCounts:
    rows = []
    for task_run in task_runs:
        props = task_run.props()
        rows.append({"props": props, "fp": fingerprint(props),
                     "dag_run_key": task_run.dag_run_key, "task_key": task_run.task_key})
    return write_batched(graph, _UPSERT_TASK_RUNS, rows)


def mark_missing_dags(graph: Graph, present_dag_ids: list[str], now_ms: int,
                      max_share: float = 0.5) -> list[str]:
    """Mark Airflow DAGs that disappeared as deleted (kept, not removed, with their history).

    Refuses when more than `max_share` of the known DAGs would go at once: that looks like
    a permissions or API problem, not a real deletion.
    """
    known = graph.read("MATCH (d:Dag) WHERE d.source = 'airflow' AND coalesce(d.is_deleted, false) = false "
                       "RETURN d.dag_id AS dag_id")
    missing = {row["dag_id"] for row in known} - set(present_dag_ids)
    if known and len(missing) > max(1, max_share * len(known)):
        log.warning("not marking %d of %d DAGs deleted: Airflow listed suspiciously few DAGs",
                    len(missing), len(known))
        return []
    if not missing:
        return []
    graph.write(_MARK_MISSING_DAGS, {"present": list(present_dag_ids), "now": now_ms})
    return sorted(missing)


def read_watermarks(graph: Graph) -> dict[str, int]:
    rows = graph.read("MATCH (d:Dag) WHERE d.synced_until IS NOT NULL "
                      "RETURN d.dag_id AS dag_id, d.synced_until AS synced_until")
    return {row["dag_id"]: row["synced_until"] for row in rows}


def set_watermarks(graph: Graph, watermarks: dict[str, int]) -> None:
    rows = [{"dag_id": dag_id, "synced_until": ms} for dag_id, ms in watermarks.items()]
    write_batched(graph, _SET_WATERMARKS, rows)


def write_heartbeat(graph: Graph, worker_name: str, props: dict) -> None:
    graph.write("MERGE (w:Worker {name: $name}) SET w += $props",
                {"name": worker_name, "props": props})
