"""The worker's Prometheus metrics: names, labels and values as Prometheus would scrape them."""

from __future__ import annotations

import logging
import socket
import urllib.request
from dataclasses import dataclass

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orcai.errors import AirflowAuthError, AirflowUnreachable, GraphUnavailable
from orcai.alerts.dispatch import DispatchReport
from orcai.policy.runner import PolicyReport
from orcai.metrics import (
    DAG_RUN_STATES, GraphSnapshot, WorkerMetrics, dag_health, policy_action_labels, serve, sync_error_reason,
)
from tests.net import free_port


def scrape(metrics: WorkerMetrics) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value}, parsed back from the text exposition."""
    text = generate_latest(metrics.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def overview_row(dag_id, states, paused=False, duration_s=60.0):
    runs = [{"state": s, "at": 1_000 - i, "duration_s": duration_s if s in ("success", "failed") else None}
            for i, s in enumerate(states)]
    return {"dag_id": dag_id, "is_paused": paused, "runs": runs}


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_dag_health_from_graph_rows():
    health = {h.dag_id: h for h in dag_health(
        [overview_row("etl", ["failed", "failed", "running", "failed", "success"]),
         overview_row("ml", [], paused=True),
         overview_row("odd", ["restarting"])],
        [{"dag_id": "etl", "state": "failed", "runs": 3}, {"dag_id": "etl", "state": "success", "runs": 1},
         {"dag_id": "etl", "state": "running", "runs": 1}])}
    assert health["etl"].last_state == "failed" and health["etl"].consecutive_failures == 3
    assert health["etl"].success_ratio_24h == 0.25 and health["etl"].last_duration_s == 60.0
    assert health["ml"].last_state == "none" and health["ml"].paused and health["ml"].success_ratio_24h is None
    assert health["odd"].last_state == "none"  # states outside the fixed set never become labels


def test_per_dag_series_follow_the_snapshot():
    metrics = WorkerMetrics("w", 60)
    metrics.graph.snapshot = GraphSnapshot(
        dags=dag_health([overview_row("etl", ["failed"] * 4), overview_row("ml", ["success"], paused=True)],
                        [{"dag_id": "ml", "state": "success", "runs": 2}]),
        anomalies=({"kind": "slow", "severity": "high", "status": "open", "anomalies": 2},
                   {"kind": "slow", "severity": "high", "status": "acknowledged", "anomalies": 3},
                   {"kind": "late", "severity": "low", "status": "false_positive", "anomalies": 1}))
    values = scrape(metrics)

    assert values[("orcai_dag_consecutive_failures", (("dag_id", "etl"),))] == 4
    assert values[("orcai_dag_last_run_state", (("dag_id", "etl"), ("state", "failed")))] == 1
    assert sum(values[("orcai_dag_last_run_state", (("dag_id", "etl"), ("state", s)))] for s in DAG_RUN_STATES) == 1
    assert values[("orcai_dag_paused", (("dag_id", "ml"),))] == 1
    assert values[("orcai_dag_run_success_ratio", (("dag_id", "ml"),))] == 1.0
    assert ("orcai_dag_run_success_ratio", (("dag_id", "etl"),)) not in values  # no finished run in 24 h
    assert values[("orcai_open_anomalies", (("kind", "slow"), ("severity", "high")))] == 2
    assert values[("orcai_anomalies_total", (("kind", "slow"), ("severity", "high")))] == 5
    assert values[("orcai_open_anomalies", (("kind", "late"), ("severity", "low")))] == 0

    metrics.graph.snapshot = GraphSnapshot(dags=dag_health([overview_row("ml", ["success"])], []))
    assert not any(labels == (("dag_id", "etl"),) for _, labels in scrape(metrics)), "a deleted DAG's series stay"


def test_only_bounded_labels():
    metrics = WorkerMetrics("w", 60)
    metrics.graph.snapshot = GraphSnapshot(dags=dag_health([overview_row("etl", ["failed"])], []))
    metrics.sync_failed(AirflowUnreachable("down"))
    labels = {key for _, pairs in scrape(metrics) for key, _ in pairs}
    assert labels <= {"dag_id", "state", "kind", "severity", "reason", "action", "mode", "outcome", "le",
                      "worker", "version"}


def test_sync_failures_count_by_reason():
    metrics = WorkerMetrics("w", 60)
    for error in (AirflowUnreachable("x"), AirflowUnreachable("x"), AirflowAuthError("x"), GraphUnavailable("x"),
                  KeyError("bug")):
        metrics.sync_failed(error)
    values = scrape(metrics)
    assert values[("orcai_syncs_total", ())] == 5
    assert values[("orcai_sync_errors_total", (("reason", "airflow_unreachable"),))] == 2
    assert values[("orcai_sync_errors_total", (("reason", "unexpected"),))] == 1
    assert values[("orcai_sync_errors_total", (("reason", "airflow_response"),))] == 0  # exists from the start
    assert sync_error_reason(GraphUnavailable("x")) == "graph"


def test_lag_counts_from_start_until_the_first_successful_sync():
    clock = FakeClock(1_000.0)
    metrics = WorkerMetrics("w", 60, clock=clock)
    clock.now = 1_090.0
    assert scrape(metrics)[("orcai_sync_lag_seconds", ())] == 90.0
    assert scrape(metrics)[("orcai_last_successful_sync_timestamp_seconds", ())] == 0
    assert scrape(metrics)[("orcai_sync_interval_seconds", ())] == 60


def test_slack_and_policy_reports_are_counted_when_present():
    metrics = WorkerMetrics("w", 60)
    metrics._observe_alerts(DispatchReport(sent=2, messages=1, failed=1, pending=4))
    metrics._observe_alerts(None)  # no Slack stage in this build
    metrics._observe_policies(PolicyReport(actions=[
        {"action": "pause", "mode": "enforce", "outcome": "done"},
        {"action": "pause", "mode": "dry_run", "outcome": "would_do"},
        {"action": "rm -rf", "mode": "enforce", "outcome": "done"}]))
    values = scrape(metrics)
    assert values[("orcai_slack_messages_sent_total", ())] == 1  # messages, not the alerts in them
    assert values[("orcai_slack_send_failures_total", ())] == 1 and values[("orcai_alerts_pending", ())] == 4
    key = ("orcai_policy_actions_total", (("action", "pause"), ("mode", "enforce"), ("outcome", "done")))
    assert values[key] == 1
    assert values[("orcai_policy_actions_total", (("action", "other"), ("mode", "enforce"), ("outcome", "done")))] == 1


def test_policy_action_labels_read_objects_and_enums():
    from enum import Enum

    class Mode(Enum):
        DRY_RUN = "dry_run"

    @dataclass
    class Action:
        kind: str
        mode: Mode
        status: str

    assert policy_action_labels(Action("unpause", Mode.DRY_RUN, "would_do")) == ("unpause", "dry_run", "would_do")


def test_serve_exposes_the_registry_over_http():
    metrics = WorkerMetrics("served", 60)
    server = serve(metrics.registry, "127.0.0.1", free_port())
    try:
        host, port = server.server_address[:2]
        body = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'orcai_worker_info{version="0.1.0",worker="served"} 1.0' in body
    assert "_created" not in body


def test_a_taken_port_is_one_clear_line_and_no_endpoint(caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with caplog.at_level(logging.INFO):
            assert serve(WorkerMetrics("w", 60).registry, "127.0.0.1", taken.getsockname()[1]) is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert "ORCAI_METRICS_PORT" in errors[0].getMessage()


def test_port_zero_turns_the_endpoint_off():
    assert serve(WorkerMetrics("w", 60).registry, "127.0.0.1", 0) is None


def test_two_registries_do_not_collide():
    first, second = WorkerMetrics("a", 60), WorkerMetrics("b", 60)
    first.sync_failed(AirflowUnreachable("x"))
    assert scrape(first)[("orcai_syncs_total", ())] == 1 and scrape(second)[("orcai_syncs_total", ())] == 0
