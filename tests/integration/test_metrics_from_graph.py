"""The worker's metrics read from a real graph, and sync failures of a real Worker counted."""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orcai.config import load_settings
from orcai.metrics import WorkerMetrics
from orcai.sync import SyncReport
from tests.integration.monitoring_graph import FAILING_DAG, load_monitoring_graph
from workers.worker import CycleOutcome, Worker

pytestmark = pytest.mark.integration


def scrape(metrics: WorkerMetrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(metrics.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_after_a_cycle_say_what_the_graph_holds(graph):
    now_ms = int(time.time() * 1000)
    load_monitoring_graph(graph, now_ms)
    metrics = WorkerMetrics("w", 60)
    outcome = CycleOutcome(now_ms=now_ms, sync=SyncReport(started_at=now_ms, duration_s=1.5, dags=3, requests=9,
                                                          dag_errors={"x": "boom"}))

    metrics.observe_cycle(outcome, graph)
    values = scrape(metrics)

    dag = (("dag_id", FAILING_DAG),)
    assert values[("orcai_dag_consecutive_failures", dag)] == 4
    assert values[("orcai_dag_last_run_state", dag + (("state", "failed"),))] == 1
    assert values[("orcai_dag_run_success_ratio", dag)] == pytest.approx(0.2)
    assert values[("orcai_dag_last_run_duration_seconds", dag)] == 600
    assert values[("orcai_dag_paused", (("dag_id", "reports_daily"),))] == 1
    assert not any(("dag_id", "retired_dag") in labels for _, labels in values), "deleted DAGs are not exported"
    assert values[("orcai_open_anomalies", (("kind", "failure_streak"), ("severity", "high")))] == 2
    assert values[("orcai_open_anomalies", (("kind", "slow"), ("severity", "low")))] == 0
    assert values[("orcai_anomalies_total", (("kind", "slow"), ("severity", "low")))] == 1
    assert values[("orcai_syncs_total", ())] == 1 and values[("orcai_sync_dag_errors_total", ())] == 1
    assert values[("orcai_sync_duration_seconds_count", ())] == 1
    assert values[("orcai_last_successful_sync_timestamp_seconds", ())] == pytest.approx(now_ms / 1000)
    assert values[("orcai_airflow_api_requests_total", ())] == 9


def test_a_failed_sync_is_counted_with_its_reason(graph_uri):
    closed_port = "http://127.0.0.1:9"  # discard port: nothing listens, the connection is refused
    worker = Worker(load_settings(graph_uri=graph_uri, airflow_url=closed_port, airflow_password="x",
                                  airflow_timeout_s=2))
    try:
        assert worker.cycle() is None
        assert worker.cycle() is None
    finally:
        worker.close()
    values = scrape(worker.metrics)
    assert values[("orcai_sync_errors_total", (("reason", "airflow_unreachable"),))] == 2
    assert values[("orcai_syncs_total", ())] == 2
    assert values[("orcai_last_successful_sync_timestamp_seconds", ())] == 0
