"""Writing records into the graph: batched `UNWIND $rows … MERGE`, idempotent.

Each node carries `fp`, a fingerprint of its properties; a row whose fingerprint is
unchanged is skipped inside the query, so re-running a sync writes nothing at all.
Labels and relationship types come from the fixed NODES/EDGES tables below, never from
input; values always travel as parameters.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from orcai.dag_health import SUMMARY_RUNS, newest_runs, summarize
from orcai.graph import dag_store
from orcai.graph.base import Graph, IndexSpec, WriteCounts
from orcai.graph.properties import STALE, remove_properties, remove_stale
from orcai.graph.row_shapes import Rows, fingerprints, for_shape, shaped, shaped_params
from orcai.graph.cypher import live
from orcai.lineage.systems import system_for_operator, system_for_uri
from orcai.model import (
    AssetRecord, DagRecord, DagRunRecord, TaskRecord, TaskRunRecord, task_key,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000
SUMMARY_BATCH = 1_000  # DAG summaries read and written per query


@dataclass(frozen=True)
class NodeKind:
    label: str
    key: str


@dataclass(frozen=True)
class EdgeKind:
    rel: str
    source: NodeKind
    target: NodeKind


DAG, TASK = NodeKind("Dag", "dag_id"), NodeKind("Task", "key")
DAG_RUN, TASK_RUN = NodeKind("DagRun", "key"), NodeKind("TaskRun", "key")
ASSET, SYSTEM = NodeKind("Asset", "uri"), NodeKind("ExternalSystem", "name")
OWNER, TAG, WORKER = NodeKind("Owner", "name"), NodeKind("Tag", "name"), NodeKind("Worker", "name")

DEPENDS_ON = EdgeKind("DEPENDS_ON", TASK, TASK)  # a DEPENDS_ON b == b directly upstream of a
PRODUCES = EdgeKind("PRODUCES", TASK, ASSET)
CONSUMES = EdgeKind("CONSUMES", TASK, ASSET)
SCHEDULED_ON = EdgeKind("SCHEDULED_ON", DAG, ASSET)
STORED_IN = EdgeKind("STORED_IN", ASSET, SYSTEM)
USES = EdgeKind("USES", TASK, SYSTEM)
OWNED_BY = EdgeKind("OWNED_BY", DAG, OWNER)
TAGGED = EdgeKind("TAGGED", DAG, TAG)

ANOMALY = NodeKind("Anomaly", "key")

SCHEMA = [IndexSpec(kind.label, kind.key)
          for kind in (DAG, TASK, DAG_RUN, TASK_RUN, ASSET, SYSTEM, OWNER, TAG, WORKER, ANOMALY)] + [
    IndexSpec("Anomaly", "status", unique=False),
    IndexSpec("Anomaly", "dag_id", unique=False),  # the Runs page reads one DAG's anomalies
    IndexSpec("TaskRun", "start_date", unique=False),
    IndexSpec("Task", "dag_id", unique=False),
    IndexSpec("DagRun", "dag_id", unique=False),
    IndexSpec("DagRun", "end_date", unique=False),  # the Slack digest's "failed since" scan
    # Alerts, policies and their actions (orcai/alerts, orcai/policy).
    IndexSpec("Alert", "key"),
    IndexSpec("Alert", "status", unique=False),
    IndexSpec("Policy", "name"),
    IndexSpec("PolicyVersion", "key"),
    IndexSpec("Action", "key"),
    IndexSpec("Lock", "name"),  # orcai/graph/lock.py
    # Incidents and their roots (orcai/incidents).
    IndexSpec("Incident", "key"),
    IndexSpec("Incident", "status", unique=False),
    IndexSpec("Incident", "resolved_at", unique=False),  # the recently resolved, each cycle (incident_store)
    IndexSpec("Pool", "name"),
]

# A node that still holds a property its row has as null keeps its old fingerprint until
# `upsert` has removed that property (in queries of its own: properties.py) and then sets
# it: an unchanged fingerprint always means nothing stale is left, so a sync interrupted
# in between rewrites the row next time rather than leaving the property behind.
# `new`: the node has no fingerprint yet, so no upsert has written it (it is created now, or
# was a stub a child MERGEd, or a deletion mark cleared it): only such a node needs its
# parent and the edge to it, which an upsert writes in the same query as the fingerprint.
# The templates read a row as a map (`row.props.key`, `row.fp`); `upsert` compiles them for
# each shape of its rows, which travel as lists (row_shapes.py).
_UPSERT = """
UNWIND $rows AS row
MERGE (n:{label} {{{key}: row.props.{key}}})
WITH n, row, n.fp IS NULL AS new WHERE new OR n.fp <> row.fp
SET n += row.props, n.fp = CASE WHEN size(%s) > 0 THEN n.fp ELSE row.fp END{extra_set}
""" % STALE.format(node="n", names="row.unset").replace("{", "{{").replace("}", "}}")

# Appended to every upsert: the written nodes that still hold a property their row has as
# null, found by the write itself rather than by a read of every row after it.
_RETURN_STALE = """
WITH n, row, {stale} AS stale WHERE size(stale) > 0
RETURN row.props.{key} AS key, stale
"""

# Stub parents are MERGEd (not MATCHed) so a child never loses its edge when it
# arrives before its parent; the parent's properties fill in when it is synced. Only for
# a `new` node (see _UPSERT): a changed one has them already. The FOREACH is also faster
# than the same MERGEs chained with WITH (catch_up_replay: docs/performance.md).
_ATTACH_TO_DAG = """
FOREACH (_ IN CASE WHEN new THEN [1] ELSE [] END |
  MERGE (d:Dag {{dag_id: row.props.dag_id}})
  MERGE (d)-[:{rel}]->(n))
"""

# A task run's edges are CREATEd, not MERGEd: a TaskRun that is `new` was created by this
# very MERGE, so it has no edges a MERGE could find. Nothing else creates TaskRun nodes (no
# stubs), and a created node gets its fingerprint in the same query (it has nothing stale to
# hold it back for). MERGE looked for the edges first: ~7% of the upsert (docs/performance.md).
_UPSERT_TASK_RUNS = _UPSERT.format(label="TaskRun", key="key", extra_set="") + """
FOREACH (_ IN CASE WHEN new THEN [1] ELSE [] END |
  MERGE (r:DagRun {key: row.dag_run_key})
  ON CREATE SET r.dag_id = row.props.dag_id, r.run_id = row.props.run_id
  CREATE (r)-[:HAS_TASK_RUN]->(n)
  MERGE (t:Task {key: row.task_key})
  ON CREATE SET t.dag_id = row.props.dag_id, t.task_id = row.props.task_id
  CREATE (n)-[:INSTANCE_OF]->(t))
"""

_MARK_REMOVED_TASKS = f"""
MATCH (t:Task)
WHERE t.dag_id IN $dag_ids AND NOT t.key IN $task_keys AND {live('t')}
SET t.is_deleted = true, t.fp = null
"""

_MARK_MISSING_DAGS = f"""
MATCH (d:Dag)
WHERE d.source = 'airflow' AND d.dag_id IN $missing AND {live('d')}
SET d.is_deleted = true, d.deleted_at = $now
"""
# fp and synced_until go too (one removal per query: properties.py); synced_until: the run stream skips DAGs Airflow does not list, so a DAG that
# comes back reads its own lookback window again (orcai.sync).


def fingerprint(props: dict) -> str:
    """A digest of `props`, names and values in their order. Records hold str, int, float,
    bool, None and lists of those (model.py), whose repr is the same in every process (unlike
    hash(), which is salted; a set or an object with the default repr would not be). The
    loader takes one a row, so it is `repr`, not sorted JSON as until the eighth session (3.9
    vs 6.8 µs a task run): a record type's properties always come in its fields' order. A
    changed digest only costs a rewrite: after that upgrade, each node, DAG summary and
    anomaly was written once more when next read."""
    return hashlib.blake2b(repr(props).encode(), digest_size=8).hexdigest()


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


def upsert(graph: Graph, kind: NodeKind, cypher: str, rows: Rows) -> WriteCounts:
    """Write `_rows` with an `_UPSERT` query (compiled for each shape of the rows, which
    travel as lists: orcai/graph/row_shapes.py), then remove what their nulls removed (on
    its own: orcai/graph/properties.py) and set the fingerprints the write held back."""
    cypher += _RETURN_STALE.format(stale=STALE.format(node="n", names="row.unset"), key=kind.key)
    counts, stale = WriteCounts(), []
    for shape, values in rows.items():
        compiled = for_shape(cypher, shape)
        for chunk in batches(values):
            written, found = graph.write_returning(compiled, shaped_params(shape, list(chunk)))
            counts, stale = counts + written, stale + found
    if stale:
        counts += remove_properties(graph, kind.label, kind.key, stale)
        fps = fingerprints(rows, kind.key)
        counts += write_batched(graph, f"UNWIND $rows AS row MATCH (n:{kind.label} {{{kind.key}: row.key}}) "
                                       "SET n.fp = row.fp",
                                [{"key": row["key"], "fp": fps[row["key"]]} for row in stale])
    return counts


def _rows(kind: NodeKind, records: Iterable, **extra_fields) -> Rows:
    """Upsert rows, by shape (row_shapes.py): a record's fingerprint (of all its properties),
    its `extra_fields`, then its properties that are not null. Of records with the same key
    only the last is kept: it alone decides what the node holds (each property is either
    set or removed by it), and rows of different shapes are written in different queries."""
    latest = {}
    for record in records:
        props = record.props()
        latest[props[kind.key]] = record, props
    by_nulls: dict[tuple, list[list]] = {}
    fields = tuple(extra_fields.values())
    for record, props in latest.values():
        values = props.values()
        row = [fingerprint(props), *(field(record) for field in fields)]
        row.extend(value for value in values if value is not None)
        by_nulls.setdefault((tuple(props), tuple(value is None for value in values)), []).append(row)
    return shaped(by_nulls, tuple(extra_fields))


# --- edges --------------------------------------------------------------------------------

def edge_key(source_key: str, target_key: str) -> str:
    return f"{source_key}>{target_key}"


def merge_edges(graph: Graph, kind: EdgeKind, pairs: Iterable[tuple[str, str]]) -> WriteCounts:
    """MERGE `kind` edges between existing nodes, given (source key, target key) pairs."""
    cypher = (f"UNWIND $rows AS row "
              f"MATCH (a:{kind.source.label} {{{kind.source.key}: row.source}}), "
              f"(b:{kind.target.label} {{{kind.target.key}: row.target}}) "
              f"MERGE (a)-[:{kind.rel}]->(b)")
    return write_batched(graph, cypher, [{"source": s, "target": t} for s, t in set(pairs)])


def delete_edges_except(graph: Graph, kind: EdgeKind, keep: Iterable[tuple[str, str]],
                        source_scope: tuple[str, list[str]] | None = None) -> WriteCounts:
    """Delete `kind` edges not in `keep`, only among sources whose `property` is in `values`
    when `source_scope = (property, values)` is given (so one DAG's sync touches only it)."""
    scope = f"a.{source_scope[0]} IN $scope AND " if source_scope else ""
    cypher = (f"MATCH (a:{kind.source.label})-[e:{kind.rel}]->(b:{kind.target.label}) "
              f"WHERE {scope}NOT (a.{kind.source.key} + '>' + b.{kind.target.key}) IN $keep "
              f"DELETE e")
    params = {"keep": [edge_key(s, t) for s, t in keep],
              "scope": source_scope[1] if source_scope else []}
    return graph.write(cypher, params)


def replace_edges(graph: Graph, kind: EdgeKind, pairs: list[tuple[str, str]],
                  source_scope: tuple[str, list[str]] | None = None) -> WriteCounts:
    """Make the `kind` edges (within the scope) exactly `pairs`."""
    return merge_edges(graph, kind, pairs) + delete_edges_except(graph, kind, pairs, source_scope)


def merge_named_nodes(graph: Graph, kind: NodeKind, records: Iterable) -> WriteCounts:
    """Small reference nodes (owners, tags, external systems), keyed by `name`."""
    return upsert(graph, kind, _UPSERT.format(label=kind.label, key=kind.key, extra_set=""),
                  _rows(kind, records))


# --- records ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Named:
    name: str

    def props(self) -> dict:
        return {"name": self.name}


def load_dags(graph: Graph, dags: Iterable[DagRecord]) -> WriteCounts:
    dags = list(dags)
    cypher = _UPSERT.format(label="Dag", key="dag_id", extra_set=", n.is_deleted = false")
    counts = upsert(graph, DAG, cypher, _rows(DAG, dags))
    scope = ("dag_id", [d.dag_id for d in dags])
    for kind, node, values_of in ((OWNED_BY, OWNER, lambda d: d.owners), (TAGGED, TAG, lambda d: d.tags)):
        pairs = [(d.dag_id, value) for d in dags for value in values_of(d)]
        counts += merge_named_nodes(graph, node, (_Named(v) for _, v in pairs))
        counts += replace_edges(graph, kind, pairs, scope)
    return counts


def load_tasks(graph: Graph, dag_ids: list[str], tasks: list[TaskRecord]) -> WriteCounts:
    """Upsert the tasks of `dag_ids` and make their edges match Airflow exactly."""
    cypher = _UPSERT.format(label="Task", key="key", extra_set=", n.is_deleted = false")
    counts = upsert(graph, TASK, cypher + _ATTACH_TO_DAG.format(rel="HAS_TASK"), _rows(TASK, tasks))
    scope = ("dag_id", dag_ids)
    dependencies = [(task_key(t.dag_id, child), t.key) for t in tasks for child in t.downstream_task_ids]
    counts += replace_edges(graph, DEPENDS_ON, dependencies, scope)
    used = [(t.key, system) for t in tasks if (system := system_for_operator(t.operator))]
    counts += merge_named_nodes(graph, SYSTEM, (system for _, system in used))
    counts += replace_edges(graph, USES, [(key, system.name) for key, system in used], scope)
    if dag_ids:
        counts += graph.write(_MARK_REMOVED_TASKS, {"dag_ids": dag_ids, "task_keys": [t.key for t in tasks]})
    return counts


@dataclass(frozen=True)
class PreparedRuns:
    """DAG runs as their writes need them, built without the graph (`prepare_dag_runs`)."""
    rows: Rows
    arrived: dict[str, list[dict]]  # per DAG, its runs as its summary keeps them


def prepare_dag_runs(runs: Iterable[DagRunRecord]) -> PreparedRuns:
    runs = list(runs)
    arrived: dict[str, list[dict]] = {}
    for run in runs:
        arrived.setdefault(run.dag_id, []).append(_summary_run(run))
    return PreparedRuns(_rows(DAG_RUN, runs), arrived)


def write_dag_runs(graph: Graph, prepared: PreparedRuns) -> WriteCounts:
    """DAG runs, and the summary of each DAG they belong to kept current."""
    cypher = _UPSERT.format(label="DagRun", key="key", extra_set="") + _ATTACH_TO_DAG.format(rel="HAS_RUN")
    return upsert(graph, DAG_RUN, cypher, prepared.rows) + _refresh_summaries(graph, prepared.arrived)


def load_dag_runs(graph: Graph, runs: Iterable[DagRunRecord]) -> WriteCounts:
    """DAG runs, and the summary of each DAG they belong to kept current."""
    return write_dag_runs(graph, prepare_dag_runs(runs))


def summarize_unsummarized_dags(graph: Graph) -> WriteCounts:
    """Summaries for DAGs whose runs were loaded before summaries were kept (read once
    from their history); nothing to do on a graph this version wrote."""
    return _refresh_summaries(graph, {dag_id: [] for dag_id in dag_store.unsummarized_dag_ids(graph)})


def _summary_run(run: DagRunRecord) -> dict:
    """A run as a summary keeps it: the fields of `dag_store.dag_overview`'s runs."""
    return {"run_id": run.run_id, "state": run.state,
            "at": run.run_after if run.run_after is not None else run.start_date,
            "start": run.start_date, "end": run.end_date, "duration_s": run.duration_s,
            "run_type": run.run_type}


def _summary_props(summary: dict) -> dict:
    """`summarize`'s fields as the Dag's properties (`dag_store.dag_summaries` reads them back)."""
    return {"last_run_state": summary["last_state"], "last_run_at": summary["last_run_at"],
            "last_run_duration_s": summary["last_duration_s"], "success_rate": summary["success_rate"],
            "failures_in_row": summary["consecutive_failures"], "runs_considered": summary["runs_considered"]}


def _refresh_summaries(graph: Graph, arrived: dict[str, list[dict]]) -> WriteCounts:
    """Recompute the summaries of the DAGs in `arrived` (runs just written, per DAG) from the
    newest runs each kept and the arrivals: one row read and at most one written per DAG,
    however long its history. A DAG without a kept list reads its newest runs from history
    once (those already include the arrivals)."""
    counts = WriteCounts()
    for chunk in batches(sorted(arrived), SUMMARY_BATCH):
        kept = {row["dag_id"]: row["recent_runs"] for row in dag_store.kept_runs(graph, list(chunk))}
        first = [dag_id for dag_id in chunk if kept.get(dag_id) is None]
        history = {row["dag_id"]: row["runs"]
                   for row in (dag_store.newest_runs_in_history(graph, first, SUMMARY_RUNS) if first else [])}
        rows = []
        for dag_id in chunk:
            if kept.get(dag_id) is not None:
                recent = newest_runs(json.loads(kept[dag_id]), arrived[dag_id])
            else:
                recent = newest_runs(history.get(dag_id) or [], [])
            summary = {"recent_runs": json.dumps(recent, separators=(",", ":")),
                       **_summary_props(summarize(recent))}
            rows.append({"dag_id": dag_id, "summary": summary, "fp": fingerprint(summary)})
        counts += dag_store.write_summaries(graph, rows)
    return counts


@dataclass(frozen=True)
class PreparedTaskRuns:
    """Task runs as their writes need them, built without the graph (`prepare_task_runs`)."""
    rows: Rows
    latest: dict[str, tuple[int, str | None]]  # per task, its newest run: `last_runs`


def prepare_task_runs(task_runs: Iterable[TaskRunRecord]) -> PreparedTaskRuns:
    task_runs = list(task_runs)
    rows = _rows(TASK_RUN, task_runs, dag_run_key=lambda tr: tr.dag_run_key, task_key=lambda tr: tr.task_key)
    return PreparedTaskRuns(rows, latest_by(task_runs, lambda tr: tr.task_key, lambda tr: tr.start_date))


def write_task_runs(graph: Graph, prepared: PreparedTaskRuns) -> WriteCounts:
    """Task runs only: each task's last run is `write_last_runs`'s, with `prepared.latest`."""
    return upsert(graph, TASK_RUN, _UPSERT_TASK_RUNS, prepared.rows)


def write_last_runs(graph: Graph, latest: dict[str, tuple[int, str | None]]) -> WriteCounts:
    """Each task's `last_state` / `last_run_at` from the newest of its runs in `latest`."""
    return _set_last_run(graph, TASK, "last_state", latest)


def load_task_runs(graph: Graph, task_runs: Iterable[TaskRunRecord]) -> WriteCounts:
    """Task runs, and each task's `last_state` / `last_run_at` kept current."""
    prepared = prepare_task_runs(task_runs)
    return write_task_runs(graph, prepared) + write_last_runs(graph, prepared.latest)


_TASK_RUNS_SINCE = """
MATCH (tr:TaskRun) WHERE tr.start_date >= $since
MATCH (tr)-[:INSTANCE_OF]->(t:Task)
RETURN t.key AS key, tr.start_date AS at, tr.state AS state
"""


def restore_last_runs(graph: Graph, since_ms: int) -> WriteCounts:
    """Each task's last run from the graph's task runs that started at `since_ms` or later:
    what a cycle that stopped before writing them owed (`StreamPass.last_runs_from`)."""
    latest: dict[str, tuple[int, str | None]] = {}
    for row in graph.read(_TASK_RUNS_SINCE, {"since": since_ms}):
        if row["key"] not in latest or row["at"] >= latest[row["key"]][0]:
            latest[row["key"]] = (row["at"], row["state"])
    return write_last_runs(graph, latest)


def newest_of(*latest: dict[str, tuple[int, str | None]]) -> dict[str, tuple[int, str | None]]:
    """`latest_by` maps merged: per key the newest, the later map winning a tie (as a later
    record does in `latest_by`)."""
    merged: dict[str, tuple[int, str | None]] = {}
    for one in latest:
        for key, value in one.items():
            if key not in merged or value[0] >= merged[key][0]:
                merged[key] = value
    return merged


def latest_by(records: Iterable, key_of, time_of) -> dict[str, tuple[int, str | None]]:
    """The newest (time, state) per key, ignoring records with no time yet."""
    latest: dict[str, tuple[int, str | None]] = {}
    for record in records:
        at = time_of(record)
        if at is not None:
            key = key_of(record)
            if key not in latest or at >= latest[key][0]:
                latest[key] = (at, record.state)
    return latest


def _set_last_run(graph: Graph, kind: NodeKind, state_prop: str,
                  latest: dict[str, tuple[int, str | None]]) -> WriteCounts:
    # Only when newer, or the same run changed state: a quiet sync writes nothing here either.
    cypher = (f"UNWIND $rows AS row MATCH (n:{kind.label} {{{kind.key}: row.key}}) "
              f"WHERE n.last_run_at IS NULL OR n.last_run_at < row.at "
              f"OR (n.last_run_at = row.at AND coalesce(n.{state_prop}, '') <> coalesce(row.state, '')) "
              f"SET n.last_run_at = row.at, n.{state_prop} = row.state")
    rows = [{"key": key, "at": at, "state": state} for key, (at, state) in latest.items()]
    return write_batched(graph, cypher, rows)


def load_assets(graph: Graph, assets: list[AssetRecord], owns: Callable[[str], bool] = lambda dag_id: True,
                scope: list[str] | None = None) -> WriteCounts:
    """Assets, their producers, consumers, scheduled DAGs and storage, replacing old edges.

    Airflow lists every asset on each sync, so the edges are replaced graph-wide; a sharded
    worker passes `owns` and `scope` (the DAG ids it owns) so that it writes and deletes
    only the edges that start at its own DAGs and tasks. Asset and storage nodes depend on
    the URI alone: every shard writes the same ones, which MERGE makes harmless."""
    counts = upsert(graph, ASSET, _UPSERT.format(label="Asset", key="uri", extra_set=""), _rows(ASSET, assets))
    produces = [(task_key(d, t), a.uri) for a in assets for d, t in a.producers if owns(d)]
    consumes = [(task_key(d, t), a.uri) for a in assets for d, t in a.consumers if owns(d)]
    scheduled = [(dag_id, a.uri) for a in assets for dag_id in a.scheduled_dags if owns(dag_id)]
    stored = [(a.uri, system) for a in assets if (system := system_for_uri(a.uri))]
    counts += merge_named_nodes(graph, SYSTEM, (system for _, system in stored))
    dag_scope = None if scope is None else ("dag_id", scope)
    for kind, pairs, edge_scope in ((PRODUCES, produces, dag_scope), (CONSUMES, consumes, dag_scope),
                                    (SCHEDULED_ON, scheduled, dag_scope),
                                    (STORED_IN, [(uri, system.name) for uri, system in stored], None)):
        counts += replace_edges(graph, kind, pairs, edge_scope)
    return counts


def mark_missing_dags(graph: Graph, present_dag_ids: list[str], now_ms: int,
                      max_share: float = 0.5, owns: Callable[[str], bool] = lambda dag_id: True) -> list[str]:
    """Mark Airflow DAGs that disappeared as deleted (kept, not removed, with their history).

    Only DAGs that `owns` accepts are considered: a sharded worker never marks another
    shard's DAGs. Refuses when more than `max_share` of the known DAGs would go at once:
    that looks like a permissions or API problem, not a real deletion.
    """
    rows = graph.read(f"MATCH (d:Dag) WHERE d.source = 'airflow' AND {live('d')} RETURN d.dag_id AS dag_id")
    known = [row for row in rows if owns(row["dag_id"])]
    missing = sorted({row["dag_id"] for row in known} - set(present_dag_ids))
    if known and len(missing) > max(1, max_share * len(known)):
        log.warning("not marking %d of %d DAGs deleted: Airflow listed suspiciously few DAGs",
                    len(missing), len(known))
        return []
    if missing:
        graph.write(_MARK_MISSING_DAGS, {"missing": missing, "now": now_ms})
        remove_stale(graph, "Dag", "dag_id", [(dag_id, ["fp", "synced_until"]) for dag_id in missing])
    return missing


def read_watermarks(graph: Graph) -> dict[str, int]:
    rows = graph.read("MATCH (d:Dag) WHERE d.synced_until IS NOT NULL "
                      "RETURN d.dag_id AS dag_id, d.synced_until AS synced_until")
    return {row["dag_id"]: row["synced_until"] for row in rows}


def set_watermarks(graph: Graph, watermarks: dict[str, int]) -> None:
    rows = [{"dag_id": dag_id, "synced_until": ms} for dag_id, ms in watermarks.items()]
    write_batched(graph, "UNWIND $rows AS row MATCH (d:Dag {dag_id: row.dag_id}) "
                         "SET d.synced_until = row.synced_until", rows)
