"""Incidents in the graph, and the reads that find their symptoms.

`(:Incident {key, status, opened_at, resolved_at, reopened, reopened_at, updated_at, summary,
root_kind, root_key, root_dag, size, dags_hit, blast_dags, blast_assets, evidence, candidates})`
`-[:ROOT_CAUSE]->(Task|Asset|Pool|ExternalSystem|Dag)` (none when the root is Airflow itself)
and `-[:INCLUDES]->(Anomaly|TaskRun|DagRun)`. Written with MERGE on the key; labels only
from the allow-lists below.
"""

from __future__ import annotations

import json

from orcai.graph.base import Graph, Row, WriteCounts
from orcai.graph.cypher import live
from orcai.graph.load import write_batched
from orcai.graph.properties import remove_stale, split_nulls
from orcai.model import DAY_MS

# root kind -> (label, key property) of the node a ROOT_CAUSE edge points at
ROOT_TARGETS = {"task": ("Task", "key"), "asset": ("Asset", "uri"), "pool": ("Pool", "name"),
                "external_system": ("ExternalSystem", "name"), "dag": ("Dag", "dag_id")}
SYMPTOM_LABELS = ("Anomaly", "TaskRun", "DagRun")  # what INCLUDES may point at, each keyed by `key`


# --- symptoms ------------------------------------------------------------------------------

def open_anomaly_symptoms(graph: Graph, since_ms: int) -> list[Row]:
    """Open anomalies detected since `since_ms`, with what they flag (and, for a task run,
    when it began to wait: scheduled, else queued)."""
    return graph.read("""
        MATCH (a:Anomaly)-[:FLAGS]->(target) WHERE a.status = 'open' AND a.detected_at >= $since
        RETURN a.key AS key, a.kind AS kind, a.dag_id AS dag_id, a.task_key AS task_key, a.run_id AS run_id,
               a.run_start AS run_start, a.detected_at AS detected_at, a.severity AS severity,
               a.reason AS reason, labels(target)[0] AS target,
               coalesce(target.scheduled_when, target.queued_when) AS waited_from""", {"since": since_ms})


def failed_runs(graph: Graph, since_ms: int) -> tuple[list[Row], list[Row]]:
    """Task runs and DAG runs that failed, started since `since_ms`."""
    tasks = graph.read("""
        MATCH (tr:TaskRun)-[:INSTANCE_OF]->(t:Task) WHERE tr.start_date >= $since AND tr.state = 'failed'
        RETURN tr.key AS key, t.dag_id AS dag_id, t.key AS task_key, tr.run_id AS run_id,
               tr.start_date AS at, tr.try_number AS try_number, tr.pool AS pool""", {"since": since_ms})
    dags = graph.read("""
        MATCH (r:DagRun) WHERE r.state = 'failed' AND coalesce(r.start_date, r.logical_date) >= $since
        RETURN r.key AS key, r.dag_id AS dag_id, r.run_id AS run_id,
               coalesce(r.start_date, r.logical_date) AS at""", {"since": since_ms})
    return tasks, dags


# How long a task run waited between being scheduled and starting: for a slot in its pool
# (scheduled -> queued), then for the executor (queued -> started). Runs synced before
# scheduled_when was kept count from queued_when.
_WAITED_S = ("(tr.start_date - coalesce(tr.scheduled_when, tr.queued_when, tr.start_date)) / 1000.0")


def long_waiting_runs(graph: Graph, since_ms: int, min_s: float, min_full_s: float) -> list[Row]:
    """Task runs that waited at least `min_s` to start, or `min_full_s` while their pool was
    full, with the task's usual wait, how full the pool was and when the wait began."""
    rows = graph.read(f"""
        MATCH (tr:TaskRun)-[:INSTANCE_OF]->(t:Task) WHERE tr.start_date >= $since
        WITH tr, t, {_WAITED_S} AS waited
        WHERE waited >= $min OR (tr.pool_full IS NOT NULL AND waited >= $min_full)
        RETURN tr.key AS key, t.dag_id AS dag_id, t.key AS task_key, tr.run_id AS run_id,
               tr.start_date AS at, waited AS queued_s, coalesce(tr.pool, t.pool) AS pool,
               tr.pool_full AS pool_full, coalesce(tr.scheduled_when, tr.queued_when) AS waited_from""", {"since": since_ms, "min": min_s, "min_full": min_full_s})
    if not rows:
        return rows
    usual = {r["key"]: r["usual"] for r in graph.read(f"""
        UNWIND $keys AS k MATCH (t:Task {{key: k}})
        WITH k, t MATCH (t)<-[:INSTANCE_OF]-(tr:TaskRun)
        WHERE tr.state = 'success' AND tr.start_date IS NOT NULL
        RETURN k AS key, percentileDisc({_WAITED_S}, 0.5) AS usual""",
                                                         {"keys": sorted({r["task_key"] for r in rows})})}
    return [{**r, "usual_queued_s": usual.get(r["task_key"])} for r in rows]


def retrying_runs(graph: Graph, since_ms: int, min_tries: int) -> list[Row]:
    """Task runs on their `min_tries`-th try or later that have not failed for good (a
    failed one is a symptom of its own): a retry storm, under way or just overcome."""
    return graph.read("""
        MATCH (tr:TaskRun)-[:INSTANCE_OF]->(t:Task)
        WHERE tr.start_date >= $since AND tr.try_number >= $tries AND tr.state <> 'failed'
        RETURN tr.key AS key, t.dag_id AS dag_id, t.key AS task_key, tr.run_id AS run_id,
               tr.start_date AS at, tr.try_number AS try_number, tr.state AS state, tr.pool AS pool""",
                      {"since": since_ms, "tries": min_tries})


def long_runs(graph: Graph, since_ms: int, now_ms: int, min_ratio: float, min_excess_s: float,
              limit: int) -> list[Row]:
    """Task runs started since `since_ms`, finished well or still running, that ran (or have
    been running by `now_ms`) at least `min_ratio` times their task's usual run time (the
    detector's band median) and `min_excess_s` more than it; the `limit` furthest out."""
    return graph.read("""
        MATCH (tr:TaskRun)-[:INSTANCE_OF]->(t:Task)
        WHERE tr.start_date >= $since AND tr.state IN ['success', 'running'] AND t.band_median > 0
        WITH tr, t, (coalesce(tr.end_date, $now) - tr.start_date) / 1000.0 AS ran
        WHERE ran >= $ratio * t.band_median AND ran - t.band_median >= $excess
        RETURN tr.key AS key, t.dag_id AS dag_id, t.key AS task_key, tr.run_id AS run_id, tr.start_date AS at,
               coalesce(tr.end_date, $now) AS until, tr.state AS state, ran AS ran_s, t.band_median AS usual_s,
               coalesce(tr.pool, t.pool) AS pool
        ORDER BY ran / t.band_median DESC LIMIT $limit""",
                      {"since": since_ms, "now": now_ms, "ratio": min_ratio, "excess": min_excess_s, "limit": limit})


def pace_around(graph: Graph, runs: list[dict]) -> dict[str, dict]:
    """For each run ({key, task_key, at, until}): how fast the other tasks went meanwhile, as
    the median of (run time / usual run time) over their finished successful runs that started
    between `at` and `until` (`pace`: 1 is their usual, 3 three times slower), and how many
    (`peers`)."""
    rows = graph.read("""
        UNWIND $runs AS c
        MATCH (tr:TaskRun) WHERE tr.start_date >= c.at AND tr.start_date <= c.until AND tr.state = 'success'
          AND tr.end_date IS NOT NULL
        WITH c, tr MATCH (tr)-[:INSTANCE_OF]->(t:Task) WHERE t.band_median > 0 AND t.key <> c.task_key
        RETURN c.key AS key, percentileDisc((tr.end_date - tr.start_date) / 1000.0 / t.band_median, 0.5) AS pace,
               count(tr) AS peers""",
                      {"runs": [{k: r[k] for k in ("key", "task_key", "at", "until")} for r in runs]})
    return {r["key"]: r for r in rows}


def recent_run_times(graph: Graph, runs: list[dict], last: int) -> dict[str, list[float]]:
    """For each run ({key, task_key, at}): the run times (seconds) of its task's `last`
    successful runs that started before it, newest first."""
    rows = graph.read("""
        UNWIND $runs AS c MATCH (t:Task {key: c.task_key})
        WITH c, t MATCH (t)<-[:INSTANCE_OF]-(o:TaskRun)
        WHERE o.state = 'success' AND o.start_date < c.at AND o.end_date IS NOT NULL
        WITH c, o ORDER BY o.start_date DESC
        RETURN c.key AS key, collect((o.end_date - o.start_date) / 1000.0)[..$last] AS recent""",
                      {"runs": [{k: r[k] for k in ("key", "task_key", "at")} for r in runs], "last": last})
    return {r["key"]: r["recent"] for r in rows}


def latest_successes(graph: Graph, task_keys: list[str], dag_ids: list[str]) -> tuple[dict, dict]:
    """When the newest successful run of each task, and of each DAG, started."""
    tasks = graph.read("""
        UNWIND $keys AS k MATCH (t:Task {key: k})
        WITH k, t MATCH (t)<-[:INSTANCE_OF]-(tr:TaskRun) WHERE tr.state = 'success'
        RETURN k AS key, max(tr.start_date) AS at""", {"keys": task_keys})
    dags = graph.read("""
        UNWIND $ids AS id MATCH (d:Dag {dag_id: id})
        WITH id, d MATCH (d)-[:HAS_RUN]->(r:DagRun) WHERE r.state = 'success'
        RETURN id AS key, max(coalesce(r.start_date, r.logical_date)) AS at""", {"ids": dag_ids})
    return {r["key"]: r["at"] for r in tasks}, {r["key"]: r["at"] for r in dags}


def scheduled_dags(graph: Graph) -> list[Row]:
    """Live, unpaused DAGs with a schedule, and when their newest run was due or started."""
    return graph.read(f"""
        MATCH (d:Dag) WHERE {live('d')} AND coalesce(d.is_paused, false) = false AND d.schedule IS NOT NULL
        RETURN d.dag_id AS dag_id, d.schedule AS schedule, d.last_run_at AS last_run_at""")


def last_task_start(graph: Graph, now_ms: int) -> int | None:
    """When the newest task run anywhere started. The last day is read first, from the
    start_date index (the whole history each cycle: 53 ms at 300,000 task runs, 5 ms so);
    all of it only when nothing started in that day."""
    for since in (now_ms - DAY_MS, None):
        rows = graph.read("MATCH (tr:TaskRun) WHERE tr.start_date >= coalesce($since, 0) "
                          "RETURN max(tr.start_date) AS at", {"since": since})
        if rows and rows[0]["at"] is not None:
            return rows[0]["at"]
    return None


def estate(graph: Graph) -> dict[str, list[Row]]:
    """Everything an incident is judged on: tasks, dependencies, assets, systems, criticality."""
    return {
        "tasks": graph.read(f"""MATCH (d:Dag)-[:HAS_TASK]->(t:Task) WHERE {live('d')} AND {live('t')}
                                RETURN t.key AS key, d.dag_id AS dag_id, t.pool AS pool,
                                       coalesce(d.criticality, 0) AS criticality"""),
        "edges": graph.read("MATCH (a:Task)-[:DEPENDS_ON]->(b:Task) RETURN b.key AS up, a.key AS down"),
        "produces": graph.read("MATCH (t:Task)-[:PRODUCES]->(a:Asset) RETURN t.key AS task, a.uri AS uri"),
        "scheduled_on": graph.read("MATCH (d:Dag)-[:SCHEDULED_ON]->(a:Asset) RETURN d.dag_id AS dag_id, a.uri AS uri"),
        "systems": graph.read("""MATCH (t:Task)-[:USES]->(s:ExternalSystem) RETURN t.key AS task, s.name AS name
                                 UNION MATCH (t:Task)-[:PRODUCES]->(:Asset)-[:STORED_IN]->(s:ExternalSystem)
                                 RETURN t.key AS task, s.name AS name"""),
    }


def estate_fingerprint(graph: Graph) -> tuple:
    """A few counts and the sync's structure marks that change when the estate does (DAGs
    live, tasks, dependencies, assets, criticality, the newest DAG version each shard saw):
    what a cached estate is keyed on. Cheap next to reading the estate itself."""
    dags = graph.read(f"""MATCH (d:Dag) WHERE {live('d')}
                          RETURN count(d) AS dags, sum(coalesce(d.criticality, 0)) AS criticality""")
    counts = [graph.read(f"MATCH ()-[r:{rel}]->() RETURN count(r) AS n")[0]["n"]
              for rel in ("HAS_TASK", "DEPENDS_ON", "PRODUCES", "SCHEDULED_ON", "USES")]
    shards = graph.read("""MATCH (s:SyncState) RETURN s.name AS name, s.version_id AS version_id,
                                  s.assets_at AS assets_at ORDER BY name""")
    return (dags[0]["dags"], dags[0]["criticality"], *counts,
            *((row["name"], row["version_id"], row["assets_at"]) for row in shards))


def task_run_timings(graph: Graph, keys: list[str]) -> list[Row]:
    """What the time breakdown needs of each task run: its times, its DAG run's, its task's
    usual (run; start and end from when it could start, never from runs that waited in a full
    pool, or starvation would become the usual), and when (and which of) its upstream tasks
    in the same DAG run finished last."""
    rows = graph.read("""
        UNWIND $keys AS k
        MATCH (tr:TaskRun {key: k})
        WITH tr MATCH (r:DagRun)-[:HAS_TASK_RUN]->(tr)-[:INSTANCE_OF]->(t:Task)
        OPTIONAL MATCH (t)-[:DEPENDS_ON]->(u:Task)<-[:INSTANCE_OF]-(ur:TaskRun)<-[:HAS_TASK_RUN]-(r)
        WITH tr, t, r, ur, u ORDER BY ur.end_date DESC
        WITH tr, t, r, collect({end: ur.end_date, task: u.key})[0] AS last_up
        RETURN tr.key AS key, t.key AS task_key, coalesce(r.queued_at, r.logical_date, tr.start_date) AS could_start,
               tr.start_date AS start, tr.end_date AS end, tr.queued_s AS queued_s,
               tr.scheduled_when AS scheduled_when, tr.pool_full AS pool_slots,
               coalesce(tr.try_number, 1) AS try_number, coalesce(tr.pool, t.pool) AS pool,
               t.band_median AS usual_run_s, last_up.end AS upstream_end, last_up.task AS upstream_task""",
                      {"keys": keys})
    if not rows:
        return rows
    usual = {r["key"]: r for r in graph.read("""
        UNWIND $keys AS k MATCH (t:Task {key: k})
        WITH k, t MATCH (r:DagRun)-[:HAS_TASK_RUN]->(tr:TaskRun)-[:INSTANCE_OF]->(t)
        WHERE tr.state = 'success' AND tr.start_date IS NOT NULL AND tr.end_date IS NOT NULL
          AND coalesce(tr.try_number, 1) = 1 AND tr.pool_full IS NULL
        WITH k, tr, coalesce(r.queued_at, r.logical_date, tr.start_date) AS could
        RETURN k AS key, percentileDisc((tr.start_date - could) / 1000.0, 0.5) AS start,
               percentileDisc((tr.end_date - could) / 1000.0, 0.5) AS end""",
                                               {"keys": sorted({r["task_key"] for r in rows})})}
    return [{**r, "usual_start_s": (usual.get(r["task_key"]) or {}).get("start"),
             "usual_end_s": (usual.get(r["task_key"]) or {}).get("end")} for r in rows]


# Anchored lookups start from the indexed node and go on after WITH: given the whole
# pattern, FalkorDB's planner may start from a label scan of every TaskRun instead.

# --- incidents -----------------------------------------------------------------------------

def open_incidents(graph: Graph) -> list[Row]:
    """Open incidents with the keys of the symptoms they include."""
    return graph.read("""
        MATCH (i:Incident) WHERE i.status = 'open'
        OPTIONAL MATCH (i)-[:INCLUDES]->(s)
        RETURN i.key AS key, i.root_kind AS root_kind, i.root_key AS root_key, i.opened_at AS opened_at,
               i.size AS size, i.dags_hit AS dags_hit, collect(s.key) AS symptoms""")


def resolved_incidents_since(graph: Graph, since_ms: int) -> list[Row]:
    """Incidents resolved since `since_ms`, as open_incidents gives them, with when they
    resolved and how often they came back before: what a flap may re-open. Never one whose
    resolved notice is queued or sent (an `incident_resolved:<key>` alert, whatever the
    clock says: a deploy between versions, a skewed clock): a notice is never contradicted."""
    return [{**r, "evidence": json.loads(r["evidence"] or "[]")}
            for r in graph.read(RESOLVED_SINCE, {"since": since_ms})]


# Both reads start from the resolved_at index and look each Alert up by its key after a WITH:
# in one pattern FalkorDB scans every Incident, and every Alert once per incident, each cycle
# (the whole history, growing forever).
RESOLVED_SINCE = """
    MATCH (i:Incident) WHERE i.resolved_at >= $since AND i.status = 'resolved'
    WITH i OPTIONAL MATCH (done:Alert) WHERE done.key = 'incident_resolved:' + i.key
    WITH i, done WHERE done IS NULL
    OPTIONAL MATCH (i)-[:INCLUDES]->(s)
    RETURN i.key AS key, i.root_kind AS root_kind, i.root_key AS root_key, i.opened_at AS opened_at,
           i.size AS size, i.resolved_at AS resolved_at, i.reopened AS reopened, i.dags_hit AS dags_hit,
           i.evidence AS evidence, collect(s.key) AS symptoms"""
UNANNOUNCED = """
    MATCH (i:Incident) WHERE i.resolved_at >= $since AND i.status = 'resolved'
    WITH i MATCH (opening:Alert) WHERE opening.key = 'incident:' + i.key
    WITH i OPTIONAL MATCH (done:Alert) WHERE done.key = 'incident_resolved:' + i.key
    WITH i, done WHERE done IS NULL
    RETURN properties(i) AS incident ORDER BY i.resolved_at, i.key"""


def unannounced_resolutions(graph: Graph, since_ms: int) -> list[Row]:
    """Incidents resolved since `since_ms` whose opening was announced (an `incident:<key>`
    alert) and whose resolution was not yet (no `incident_resolved:<key>`)."""
    rows = graph.read(UNANNOUNCED, {"since": since_ms})
    return [r["incident"] for r in rows]


def taken_incident_keys(graph: Graph, keys: list[str]) -> set[str]:
    """Which of `keys` an incident already has (open or resolved)."""
    if not keys:
        return set()
    return {r["key"] for r in graph.read("UNWIND $keys AS k MATCH (i:Incident {key: k}) RETURN i.key AS key",
                                         {"keys": keys})}


_UPSERT = """
UNWIND $rows AS row
MERGE (i:Incident {key: row.key})
ON CREATE SET i.opened_at = row.opened_at
SET i += row.props, i.status = 'open'
"""
_UNLINK_ROOT = """
UNWIND $rows AS row
MATCH (i:Incident {key: row.key})-[old:ROOT_CAUSE]->() DELETE old
"""


def write_incidents(graph: Graph, rows: list[dict]) -> WriteCounts:
    """rows: {key, opened_at, props (scalars and lists), root_kind, root_key, evidence,
    candidates, symptoms: [{label, key}]}. Re-writing the same rows changes nothing new."""
    payload, unset = [], []
    for r in rows:  # nulls are removed one property per query (properties.py)
        props, gone = split_nulls({**r["props"], "evidence": json.dumps(r["evidence"]),
                                   "candidates": json.dumps(r["candidates"]), "resolved_at": None})
        payload.append({"key": r["key"], "opened_at": r["opened_at"], "props": props})
        unset.append((r["key"], gone))
    counts = write_batched(graph, _UPSERT, payload)
    counts += remove_stale(graph, "Incident", "key", unset)
    counts += write_batched(graph, _UNLINK_ROOT, payload)
    for kind, (label, prop) in ROOT_TARGETS.items():  # labels only from this allow-list
        linked = [{"key": r["key"], "root": r["root_key"]} for r in rows if r["root_kind"] == kind]
        counts += write_batched(graph, f"""
            UNWIND $rows AS row MATCH (i:Incident {{key: row.key}})
            MERGE (n:{label} {{{prop}: row.root}}) MERGE (i)-[:ROOT_CAUSE]->(n)""", linked)
    for label in SYMPTOM_LABELS:
        included = [{"key": r["key"], "symptom": s["key"]} for r in rows for s in r["symptoms"] if s["label"] == label]
        counts += write_batched(graph, f"""
            UNWIND $rows AS row MATCH (i:Incident {{key: row.key}}), (s:{label} {{key: row.symptom}})
            MERGE (i)-[:INCLUDES]->(s)""", included)
    return counts


def resolve_incidents(graph: Graph, keys: list[str], at_ms: int) -> list[str]:
    """Mark open incidents resolved; returns the keys of those that were open. Their resolved
    notices go out later, once they stayed resolved (unannounced_resolutions)."""
    if not keys:
        return []
    rows = graph.read("UNWIND $keys AS k MATCH (i:Incident {key: k}) WHERE i.status = 'open' "
                      "RETURN i.key AS key", {"keys": keys})
    graph.write("UNWIND $keys AS k MATCH (i:Incident {key: k}) WHERE i.status = 'open' "
                "SET i.status = 'resolved', i.resolved_at = $at, i.updated_at = $at", {"keys": keys, "at": at_ms})
    return [r["key"] for r in rows]


def incidents(graph: Graph, since_ms: int, limit: int = 200) -> list[Row]:
    """Open incidents and those resolved since `since_ms`, newest first (the page's list)."""
    return graph.read("""
        MATCH (i:Incident) WHERE i.status = 'open' OR i.resolved_at >= $since
        RETURN properties(i) AS incident ORDER BY i.opened_at DESC LIMIT $limit""",
                      {"since": since_ms, "limit": limit})


def incident_symptoms(graph: Graph, key: str) -> list[Row]:
    """The symptoms an incident includes, oldest first: its timeline."""
    return graph.read("""
        MATCH (:Incident {key: $key})-[:INCLUDES]->(s)
        RETURN labels(s)[0] AS label, s.key AS key, coalesce(s.kind, s.state) AS kind, s.dag_id AS dag_id,
               coalesce(s.task_key, s.task_id) AS task, s.run_id AS run_id, s.reason AS reason,
               s.severity AS severity, s.incident_at AS at, s.breakdown AS breakdown
        ORDER BY at, key""", {"key": key})


def mark_symptoms(graph: Graph, rows: list[dict]) -> WriteCounts:
    """Store on each symptom node when it began and its time breakdown sentence (for the timeline)."""
    counts = WriteCounts()
    for label in SYMPTOM_LABELS:
        counts += write_batched(graph, f"""
            UNWIND $rows AS row MATCH (s:{label} {{key: row.key}})
            SET s.incident_at = row.at, s.breakdown = row.breakdown""",
                                [r for r in rows if r["label"] == label])
    return counts


def open_incidents_by_dag(graph: Graph) -> list[Row]:
    """For each DAG with a symptom in an open incident: that incident's root, size and reach."""
    return graph.read("""
        MATCH (i:Incident {status: 'open'})-[:INCLUDES]->(s)
        RETURN DISTINCT s.dag_id AS dag_id, i.key AS key, i.root_kind AS root_kind, i.root_dag AS root_dag,
               i.size AS size, i.dags_hit AS dags_hit""")
