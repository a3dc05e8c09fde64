"""The alert outbox in the graph: `(Alert {key, kind, payload, status, attempts, ...})`.

An alert's key is its identity: enqueuing the same key again changes nothing. Also the
reads that find what is owed: anomalies and failed runs nobody has been told about yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from orcai.alerts.outbox import AlertRequest
from orcai.graph.base import Graph, Row
from orcai.graph.properties import remove_stale

_ENQUEUE = """
UNWIND $rows AS row
MERGE (a:Alert {key: row.key})
ON CREATE SET a.kind = row.kind, a.dag_id = row.dag_id, a.payload = row.payload,
              a.created_at = row.created_at, a.status = 'pending', a.attempts = 0
"""


def enqueue(graph: Graph, requests: Sequence[AlertRequest]) -> int:
    """Store alerts as pending; keys already in the outbox are left as they are.

    Returns how many were new."""
    if not requests:
        return 0
    rows = [{"key": r.key, "kind": r.kind, "dag_id": r.dag_id, "created_at": r.created_at,
             "payload": json.dumps(r.payload, sort_keys=True, default=str)} for r in requests]
    return graph.write(_ENQUEUE, {"rows": rows}).nodes_created


def pending(graph: Graph, now_ms: int, limit: int = 500) -> list[AlertRequest]:
    """Alerts not yet sent whose retry time has come, oldest first."""
    rows = graph.read(
        "MATCH (a:Alert) WHERE a.status = 'pending' "
        "AND (a.next_attempt_at IS NULL OR a.next_attempt_at <= $now) "
        "RETURN a.key AS key, a.kind AS kind, a.dag_id AS dag_id, a.payload AS payload, "
        "a.created_at AS created_at ORDER BY a.created_at, a.key LIMIT $limit",
        {"now": now_ms, "limit": limit})
    return [AlertRequest(r["key"], r["kind"], json.loads(r["payload"]), r["created_at"], r["dag_id"])
            for r in rows]


def mark_sent(graph: Graph, keys: Sequence[str], now_ms: int, channel: str, slack_ts: str | None = None) -> None:
    """Sent; `slack_ts` is the posted message's id (bot token), kept to edit it in place later."""
    graph.write("UNWIND $keys AS key MATCH (a:Alert {key: key}) "
                "SET a.status = 'sent', a.sent_at = $now, a.channel = $channel, "
                "a.attempts = coalesce(a.attempts, 0) + 1" + (", a.slack_ts = $ts" if slack_ts else ""),
                {"keys": list(keys), "now": now_ms, "channel": channel, "ts": slack_ts})
    remove_stale(graph, "Alert", "key", [(key, ["last_error"]) for key in keys])  # properties.py


def slack_ts(graph: Graph, key: str) -> str | None:
    """The Slack id of the message that delivered alert `key`, when a bot token posted it."""
    rows = graph.read("MATCH (a:Alert {key: $key}) WHERE a.status = 'sent' RETURN a.slack_ts AS ts", {"key": key})
    return rows[0]["ts"] if rows else None


def mark_failed(graph: Graph, keys: Sequence[str], error: str, retry_at_ms: int) -> None:
    """A failed send stays pending and is retried from `retry_at_ms`."""
    graph.write("UNWIND $keys AS key MATCH (a:Alert {key: key}) "
                "SET a.attempts = coalesce(a.attempts, 0) + 1, a.last_error = $error, "
                "a.next_attempt_at = $retry_at",
                {"keys": list(keys), "error": error, "retry_at": retry_at_ms})


_NEW_ANOMALIES = """
MATCH (a:Anomaly) WHERE a.status = 'open' AND a.detected_at >= $since
  AND coalesce(a.run_start, a.detected_at) >= $since AND a.severity IN $severities
OPTIONAL MATCH (sent:Alert {key: 'anomaly:' + a.key})
WITH a, sent WHERE sent IS NULL
OPTIONAL MATCH (incident:Incident)-[:INCLUDES]->(a)
WITH a, incident WHERE incident IS NULL
OPTIONAL MATCH (a)-[:FLAGS]->(tr:TaskRun)
RETURN a.key AS key, a.dag_id AS dag_id, a.task_id AS task_id, a.kind AS kind, a.severity AS severity,
       a.score AS score, a.reason AS reason, a.run_id AS run_id, tr.map_index AS map_index
ORDER BY a.detected_at, a.key
"""

_CLOSED_ANOMALIES = """
MATCH (a:Anomaly) WHERE a.status IN $closed AND coalesce(a.status_at, 0) >= $since
MATCH (announced:Alert {key: 'anomaly:' + a.key}) WHERE announced.status = 'sent'
OPTIONAL MATCH (resolved:Alert {key: 'anomaly_resolved:' + a.key})
WITH a, resolved WHERE resolved IS NULL
RETURN a.key AS key, a.dag_id AS dag_id, a.task_id AS task_id, a.kind AS kind, a.status AS status,
       a.status_by AS status_by, a.status_note AS status_note
ORDER BY a.key
"""


_NEW_FAILED_RUNS = """
MATCH (r:DagRun) WHERE r.state = 'failed' AND r.end_date >= $since AND coalesce(r.source, 'airflow') = 'airflow'
OPTIONAL MATCH (sent:Alert {key: 'dag_failed:' + r.key})
WITH r, sent WHERE sent IS NULL
OPTIONAL MATCH (incident:Incident)-[:INCLUDES]->(r)
WITH r, incident WHERE incident IS NULL
OPTIONAL MATCH (r)-[:HAS_TASK_RUN]->(tr:TaskRun) WHERE tr.state = 'failed'
RETURN r.key AS key, r.dag_id AS dag_id, r.run_id AS run_id, r.end_date AS end_date,
       collect(tr.task_id) AS failed_tasks
ORDER BY end_date, key
"""


def unannounced_anomalies(graph: Graph, since_ms: int, severities: list[str]) -> list[Row]:
    """Open anomalies of runs since `since_ms`, of the given severities, with no alert yet."""
    return graph.read(_NEW_ANOMALIES, {"since": since_ms, "severities": severities})


def closed_announced_anomalies(graph: Graph, since_ms: int, closed: list[str]) -> list[Row]:
    """Announced anomalies closed since `since_ms` whose closing was not announced yet."""
    return graph.read(_CLOSED_ANOMALIES, {"since": since_ms, "closed": closed})


def unannounced_failed_runs(graph: Graph, since_ms: int) -> list[Row]:
    """Airflow DAG runs that failed since `since_ms` with no alert yet, with their failed tasks."""
    return graph.read(_NEW_FAILED_RUNS, {"since": since_ms})


def alerts_sent_since(graph: Graph, since_ms: int) -> int:
    """How many alerts were delivered since `since_ms` (the alert budget the Status page shows)."""
    return graph.read("MATCH (a:Alert) WHERE a.status = 'sent' AND a.sent_at >= $since RETURN count(a) AS n",
                      {"since": since_ms})[0]["n"]


def existing_keys(graph: Graph, keys: Sequence[str]) -> set[str]:
    """Which of these alert keys are already in the outbox (whatever their status)."""
    if not keys:
        return set()
    rows = graph.read("UNWIND $keys AS k MATCH (a:Alert {key: k}) RETURN a.key AS key", {"keys": list(keys)})
    return {row["key"] for row in rows}
