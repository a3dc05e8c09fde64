"""Anomalies in the graph: `(Anomaly {key})-[:FLAGS]->(TaskRun|DagRun|Dag)`.

The key is deterministic (kind + the run it flags), so re-detection updates one node.
Status is set on creation only: an operator's acknowledgement survives re-detection.
"""

from __future__ import annotations

from orcai.graph.base import Graph, Row, WriteCounts
from orcai.graph.load import fingerprint, write_batched

STATUSES = ("open", "acknowledged", "false_positive")
ANOMALY_TARGETS = ("TaskRun", "DagRun", "Dag")  # labels a FLAGS edge may point at

_UPSERT_ANOMALIES = """
UNWIND $rows AS row
MERGE (a:Anomaly {key: row.props.key})
ON CREATE SET a += row.props, a.status = 'open', a.fp = row.fp
WITH a, row WHERE a.fp <> row.fp
SET a.score = row.props.score, a.severity = row.props.severity, a.reason = row.props.reason,
    a.value_s = row.props.value_s, a.fp = row.fp
"""
_LINK_NEW_ANOMALIES = """
UNWIND $rows AS row
MATCH (a:Anomaly {{key: row.props.key}}), (target:{label} {{key: row.target}})
MERGE (a)-[:FLAGS]->(target)
"""


def load_anomalies(graph: Graph, anomalies: list[dict]) -> WriteCounts:
    """Anomaly nodes (dicts with `key`, `target_label`, `target_key`, ...) and their FLAGS edge."""
    counts = WriteCounts()
    for label in ANOMALY_TARGETS:  # labels only from this allow-list
        rows = []
        for anomaly in anomalies:
            if anomaly["target_label"] == label:
                props = {k: v for k, v in anomaly.items() if k not in ("target_label", "target_key")}
                rows.append({"props": props, "fp": fingerprint({k: props[k] for k in ("score", "severity", "reason")}),
                             "target": anomaly["target_key"]})
        counts += write_batched(graph, _UPSERT_ANOMALIES, rows)
        counts += write_batched(graph, _LINK_NEW_ANOMALIES.format(label=label), rows)
    return counts


def set_anomaly_status(graph: Graph, key: str, status: str, by: str, at_ms: int, note: str = "",
                       subject: str | None = None, page: str | None = None) -> Row | None:
    """Set an anomaly's status and add the change to its history (who by name and subject,
    when, from which page); returns what it was before (status and task key), or None
    when there is no such anomaly."""
    if status not in STATUSES:
        raise ValueError(f"unknown anomaly status {status!r}")
    rows = graph.read("MATCH (a:Anomaly {key: $key}) RETURN a.status AS status, a.task_key AS task", {"key": key})
    if not rows:
        return None
    graph.write("""
        MATCH (a:Anomaly {key: $key})
        SET a.status = $status, a.status_by = $by, a.status_at = $at, a.status_note = $note
        MERGE (r:Review {key: $review})
        ON CREATE SET r.anomaly = $key, r.status = $status, r.before = $before, r.by = $by,
                      r.by_subject = $subject, r.page = $page, r.at = $at, r.note = $note
        MERGE (a)-[:REVIEWED]->(r)
    """, {"key": key, "status": status, "by": by, "at": at_ms, "note": note, "subject": subject,
          "page": page, "before": rows[0]["status"], "review": f"{key}@{at_ms}:{subject or by}"})
    return rows[0]


def anomaly_history(graph: Graph, key: str) -> list[Row]:
    """Every change of an anomaly's status, newest first: who (name, subject), when, from where."""
    return graph.read("MATCH (:Anomaly {key: $key})-[:REVIEWED]->(r:Review) "
                      "RETURN r.at AS at, r.before AS before, r.status AS status, r.by AS by, "
                      "r.by_subject AS subject, r.page AS page, r.note AS note ORDER BY r.at DESC", {"key": key})


def scale_task_tolerance(graph: Graph, task_key: str, factor: float) -> None:
    graph.write("MATCH (t:Task {key: $task}) SET t.tolerance = coalesce(t.tolerance, 1.0) * $factor",
                {"task": task_key, "factor": factor})


def task_tolerances(graph: Graph) -> dict[str, float]:
    rows = graph.read("MATCH (t:Task) WHERE t.tolerance IS NOT NULL RETURN t.key AS key, t.tolerance AS tolerance")
    return {row["key"]: row["tolerance"] for row in rows}


def anomalies(graph: Graph, statuses: list[str], since_ms: int = 0, limit: int = 1000) -> list[Row]:
    """The `limit` most severe anomalies with the given statuses detected since `since_ms`
    (only the fields the page shows: a noisy deployment can hold tens of thousands)."""
    return graph.read("""
        MATCH (a:Anomaly) WHERE a.status IN $statuses AND a.detected_at >= $since
        WITH a, CASE a.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END AS rank
        ORDER BY rank, a.score DESC LIMIT $limit
        RETURN {key: a.key, severity: a.severity, kind: a.kind, dag_id: a.dag_id, task_id: a.task_id,
                run_id: a.run_id, detected_at: a.detected_at, reason: a.reason, status: a.status,
                score: a.score, task_key: a.task_key} AS anomaly, rank
    """, {"statuses": statuses, "since": since_ms, "limit": limit})


def anomaly_counts(graph: Graph, statuses: list[str], since_ms: int = 0) -> dict[str, int]:
    """How many anomalies with the given statuses were detected since `since_ms`, per severity."""
    rows = graph.read("""
        MATCH (a:Anomaly) WHERE a.status IN $statuses AND a.detected_at >= $since
        RETURN a.severity AS severity, count(a) AS n
    """, {"statuses": statuses, "since": since_ms})
    return {row["severity"]: row["n"] for row in rows}


def anomaly_totals(graph: Graph) -> list[Row]:
    """How many anomalies the graph holds, per kind, severity and status (one small aggregate)."""
    return graph.read("MATCH (a:Anomaly) RETURN a.kind AS kind, a.severity AS severity, "
                      "a.status AS status, count(a) AS anomalies")


def dag_run_anomalies(graph: Graph, dag_id: str, since_ms: int) -> list[Row]:
    """Anomalies on the DAG's runs that started since `since_ms` (any status but false positive)."""
    return graph.read("""
        MATCH (a:Anomaly) WHERE a.dag_id = $dag AND a.run_start >= $since
          AND a.status <> 'false_positive'
        RETURN a.run_id AS run_id, a.task_id AS task_id, a.kind AS kind, a.severity AS severity,
               a.reason AS reason, a.status AS status
    """, {"dag": dag_id, "since": since_ms})


def anomalies_by_run(graph: Graph, since_ms: int, open_only: bool = True) -> dict[str, dict[str, list[Row]]]:
    """Anomalies detected since `since_ms`, by DAG id, then by run id."""
    rows = graph.read("MATCH (a:Anomaly) WHERE a.detected_at >= $since AND ($all OR a.status = 'open') "
                      "RETURN a.dag_id AS dag_id, a.run_id AS run_id, a.kind AS kind, a.score AS score, "
                      "a.severity AS severity", {"since": since_ms, "all": not open_only})
    grouped: dict[str, dict[str, list[Row]]] = {}
    for row in rows:
        grouped.setdefault(row["dag_id"], {}).setdefault(row["run_id"], []).append(row)
    return grouped


def open_anomalies_per_task(graph: Graph, task_keys: list[str]) -> dict[str, int]:
    rows = graph.read("""
        MATCH (a:Anomaly) WHERE a.status = 'open' AND a.task_key IN $keys
        RETURN a.task_key AS key, count(a) AS open""", {"keys": task_keys})
    return {r["key"]: r["open"] for r in rows}


# --- the bands the worker judged with (orcai.anomalies.baselines) ---------------------------

_BAND_TARGETS = {"Task": "key", "Dag": "dag_id"}  # label -> key: the only labels written


def write_bands(graph: Graph, label: str, bands: list[dict], keep: int) -> WriteCounts:
    """Store each node's current band and append it to its band history (the last `keep`)."""
    key = _BAND_TARGETS[label]
    return write_batched(graph, f"""
        UNWIND $rows AS row
        MATCH (n:{label} {{{key}: row.key}})
        WITH n, row, coalesce(n.band_history, []) + [[row.at, row.median, row.low, row.high]] AS history
        SET n.band_median = row.median, n.band_low = row.low, n.band_high = row.high,
            n.band_at = row.at, n.band_detector = row.detector,
            n.band_history = CASE WHEN size(history) > {int(keep)} THEN history[size(history) - {int(keep)}..]
                                  ELSE history END""", bands)


def band_history(graph: Graph, label: str, key_value: str) -> list[list]:
    """[[fitted_at, median, low, high], ...] of one Task (by key) or Dag (by dag_id), oldest first."""
    key = _BAND_TARGETS[label]
    rows = graph.read(f"MATCH (n:{label} {{{key}: $key}}) RETURN n.band_history AS history", {"key": key_value})
    return (rows[0]["history"] or []) if rows else []


def task_anomaly_flags(graph: Graph, task_key: str, since_ms: int) -> list[Row]:
    """The task's stored anomalies on runs since `since_ms` (false positives left out)."""
    return graph.read("""
        MATCH (a:Anomaly) WHERE a.task_key = $task AND a.run_start >= $since AND a.status <> 'false_positive'
        RETURN a.run_id AS run_id, a.kind AS kind, a.reason AS reason, a.severity AS severity""",
                      {"task": task_key, "since": since_ms})
