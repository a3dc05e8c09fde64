"""Fixed alerts of every kind, rendered by the real renderer into docs/slack/<kind>.json.

`python -m tests.slack_examples` rewrites the files; tests/unit/test_slack_messages.py
fails when a saved file differs from what the renderer produces now, so they never rot.
"""

from __future__ import annotations

import json
from pathlib import Path

from orcai.alerts.messages import Links, group_messages, to_block_kit
from orcai.alerts.outbox import AlertRequest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "slack"
LINKS = Links(app_url="https://orcai.example.com", airflow_url="https://airflow.example.com")
AT = 1_764_100_000_000  # 2025-11-25 19:46:40 UTC


def _anomaly(n: int, dag: str, task: str, kind: str, severity: str, score: float, reason: str) -> AlertRequest:
    key = f"{kind}:{dag}/scheduled__2025-11-25T19:00:00+00:00/{task}/-1"
    return AlertRequest(f"anomaly:{key}", "anomaly", {
        "anomaly_key": key, "dag_id": dag, "task_id": task, "kind": kind, "severity": severity,
        "score": score, "reason": reason, "run_id": "scheduled__2025-11-25T19:00:00+00:00"}, AT + n, dag)


INCIDENT = {
    "incident_key": "task:warehouse.load_orders@1764099000000", "status": "open",
    "summary": "task warehouse.load_orders: 4 symptoms in 2 DAGs, 3 DAGs downstream",
    "root_kind": "task", "root_key": "warehouse.load_orders", "root_dag": "warehouse", "opened_at": AT - 1_000_000,
    "size": 4, "dags_hit": ["warehouse", "orders_mart"],
    "blast_dags": ["warehouse", "orders_mart", "finance_report", "exec_dashboard"],
    "blast_assets": ["postgres://wh/orders", "s3://lake/orders_mart"],
    "evidence": ["warehouse.load_orders failed first, at 2025-11-25 19:30 UTC: failed on try 3",
                 "its own DAG run went wrong with it: warehouse (run)",
                 "1 downstream node went wrong after it: orders_mart (run)",
                 "nothing upstream of it shows a symptom"],
    "first_run_id": "scheduled__2025-11-25T19:00:00+00:00", "first_dag_id": "warehouse"}

EXAMPLES: dict[str, list[AlertRequest]] = {
    "anomaly": [
        _anomaly(0, "etl_orders", "load", "slow", "high", 7.6,
                 "took 2.6 min, 7.6× its median of 21 s over the last 30 successful runs (usual range 19–29 s)"),
        _anomaly(1, "flaky_ingest", "fetch_partner_feed", "failure_streak", "medium", 3.0,
                 "failed 3 runs in a row; it usually fails 1 in 3 & recovers on the next run"),
        _anomaly(2, "ml_training", "train", "fast", "low", 2.1,
                 "finished in 4 s, well under its usual 40–55 s: check that it did <all> its work"),
    ],
    "anomaly_resolved": [AlertRequest("anomaly_resolved:slow:etl_orders/r1/load/-1", "anomaly_resolved", {
        "anomaly_key": "slow:etl_orders/r1/load/-1", "dag_id": "etl_orders", "task_id": "load", "kind": "slow",
        "resolved_reason": "acknowledged by admin: warehouse maintenance window"}, AT, "etl_orders")],
    "policy_action": [AlertRequest("policy:pause-flaky:3:flaky_ingest:1764100000", "policy_action", {
        "policy": "pause-flaky", "version": 3, "action": "pause", "mode": "enforce", "outcome": "done",
        "dag_id": "flaky_ingest", "reason": "failure_rate_24h 0.62 > 0.5 and consecutive_failures 4 >= 3",
        "facts": {"failure_rate_24h": 0.62, "consecutive_failures": 4},
        "undo": "unpause flaky_ingest in Airflow, or press Unpause on the Policies page", "text": None},
        AT, "flaky_ingest")],
    "policy_disabled": [AlertRequest("policy_disabled:late-runs:2", "policy_disabled", {
        "policy": "late-runs", "version": 2,
        "error": "no such key: 'minutes_late' (line 1, column 1) — failed on 5 evaluations in a row"}, AT, None)],
    "digest": [AlertRequest("digest:1764100000000", "digest", {
        "dag_ids": ["flaky_ingest", "regional_report"],
        "failures": [
            {"dag_id": "flaky_ingest", "run_id": "scheduled__2025-11-25T19:00:00+00:00",
             "end_date": AT - 600_000, "failed_tasks": ["fetch_partner_feed"]},
            {"dag_id": "regional_report", "run_id": "manual__2025-11-25T18:30:00+00:00",
             "end_date": AT - 1_200_000, "failed_tasks": ["render_emea", "render_apac"]},
        ]}, AT, None)],
    "incident": [AlertRequest("incident:task:warehouse.load_orders@1764099000000", "incident", INCIDENT, AT, "warehouse")],
    "incident_update": [AlertRequest("incident:task:warehouse.load_orders@1764099000000:size7", "incident_update",
                                     {**INCIDENT, "size": 7, "dags_hit": ["warehouse", "orders_mart", "finance_report"]},
                                     AT + 900_000, "warehouse")],
    "incident_resolved": [AlertRequest("incident_resolved:task:warehouse.load_orders@1764099000000",
                                       "incident_resolved", {**INCIDENT, "status": "resolved",
                                                             "resolved_at": AT + 2_700_000}, AT + 2_700_000, "warehouse")],
}


def rendered_examples() -> dict[str, dict]:
    """Each kind's fixed alerts, grouped and rendered exactly as the worker would send them."""
    out = {}
    for kind, alerts in EXAMPLES.items():
        [message] = group_messages(alerts, LINKS)
        out[kind] = to_block_kit(message)
    return out


def as_file_text(rendered: dict) -> str:
    return json.dumps(rendered, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for kind, rendered in rendered_examples().items():
        (DOCS / f"{kind}.json").write_text(as_file_text(rendered))
        print(f"wrote docs/slack/{kind}.json")


if __name__ == "__main__":
    main()
