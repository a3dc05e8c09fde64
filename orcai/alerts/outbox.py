"""The alert outbox: every notice ORC AI owes someone, stored in the graph before it is sent.

Producers (anomaly detection, the policy engine, ...) `enqueue` AlertRequests; the Slack
dispatcher sends what is pending and records the outcome. An alert's `key` is its identity:
enqueuing the same key again changes nothing, so a repeat of the same open anomaly or a
retried policy action is never sent twice, and a send that failed stays pending for the
next cycle instead of being lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from orcai.graph import Graph

# What each kind's payload carries (JSON-serialisable, never a secret):
#   anomaly          — anomaly_key, dag_id, task_id, kind, severity, score, reason, run_id
#   anomaly_resolved — anomaly_key, dag_id, task_id, kind, resolved_reason
#   policy_action    — policy, version, action (pause|unpause|alert|mark_critical), mode
#                      (dry_run|enforce), outcome (done|would_do|failed), dag_id, reason,
#                      facts, undo (how to undo, or null), text (an alert action's message)
#   policy_disabled  — policy, version, error
#   digest           — dag_ids, failures (a DAG failure digest)
KINDS = ("anomaly", "anomaly_resolved", "policy_action", "policy_disabled", "digest")


@dataclass(frozen=True)
class AlertRequest:
    key: str
    kind: str
    payload: dict
    created_at: int  # epoch ms
    dag_id: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; expected one of {', '.join(KINDS)}")


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


def mark_sent(graph: Graph, keys: Sequence[str], now_ms: int, channel: str) -> None:
    graph.write("UNWIND $keys AS key MATCH (a:Alert {key: key}) "
                "SET a.status = 'sent', a.sent_at = $now, a.channel = $channel, "
                "a.attempts = coalesce(a.attempts, 0) + 1, a.last_error = null",
                {"keys": list(keys), "now": now_ms, "channel": channel})


def mark_failed(graph: Graph, keys: Sequence[str], error: str, retry_at_ms: int) -> None:
    """A failed send stays pending and is retried from `retry_at_ms`."""
    graph.write("UNWIND $keys AS key MATCH (a:Alert {key: key}) "
                "SET a.attempts = coalesce(a.attempts, 0) + 1, a.last_error = $error, "
                "a.next_attempt_at = $retry_at",
                {"keys": list(keys), "error": error, "retry_at": retry_at_ms})
