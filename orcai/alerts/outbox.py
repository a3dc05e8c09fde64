"""The alert outbox: every notice ORC AI owes someone, stored in the graph before it is sent.

Producers (anomaly detection, the policy engine, ...) enqueue AlertRequests
(`orcai.graph.alert_store.enqueue`); the Slack
dispatcher sends what is pending and records the outcome. An alert's `key` is its identity:
enqueuing the same key again changes nothing, so a repeat of the same open anomaly or a
retried policy action is never sent twice, and a send that failed stays pending for the
next cycle instead of being lost.
"""

from __future__ import annotations

from dataclasses import dataclass

# What each kind's payload carries (JSON-serialisable, never a secret):
#   anomaly          — anomaly_key, dag_id, task_id, kind, severity, score, reason, run_id
#   anomaly_resolved — anomaly_key, dag_id, task_id, kind, resolved_reason
#   policy_action    — policy, version, action (pause|unpause|alert|mark_critical|pause_tag|unpause_tag|set_pool_slots|restore_pool_slots|clear_stuck|fail_zombie_run), mode
#                      (dry_run|enforce), outcome (done|would_do|failed), dag_id, reason,
#                      facts, undo (how to undo, or null), text (an alert action's message),
#                      by (the person, for a manual action such as an undo; absent for a policy's own)
#   policy_disabled  — policy, version, error
#   digest           — dag_ids, failures (a DAG failure digest)
#   incident         — incident_key, status, summary, root_kind, root_key, root_dag, opened_at,
#                      size, dags_hit, blast_dags, blast_assets, evidence (one message per incident)
#   incident_update  — the same, as the incident grew (edits the incident's message in place)
#   incident_resolved — incident_key, summary, root_kind, root_key, opened_at, resolved_at, size,
#                      dags_hit, blast_dags, reopened (times it came back after it resolved); queued
#                      once it stayed resolved for the re-open window (orcai.incidents.lifecycle)
KINDS = ("anomaly", "anomaly_resolved", "policy_action", "policy_disabled", "digest",
         "incident", "incident_update", "incident_resolved")


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
