"""The worker keeps going through outages: one clear log line each, and it catches up."""

from __future__ import annotations

import logging

import pytest

from orcai.graph.worker_store import worker_heartbeats
from tests.conftest import trigger, wait_for_quiet_airflow
from workers.worker import Worker

pytestmark = pytest.mark.integration


def error_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_wrong_password_is_one_clear_line(airflow, graph, graph_uri, tmp_path, caplog):
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password")
    worker = Worker(airflow.settings(graph_uri=graph_uri, airflow_password_file=wrong))

    assert worker.cycle() is None

    errors = error_lines(caplog)
    assert len(errors) == 1 and errors[0].exc_info is None
    assert "ORCAI_AIRFLOW_PASSWORD" in errors[0].getMessage()
    assert "not-the-password" not in caplog.text
    beat = worker_heartbeats(graph)[0]
    assert "rejected user 'admin'" in beat["last_error"] and beat.get("last_ok_at") is None


def test_graph_unreachable_is_one_clear_line(airflow, caplog):
    worker = Worker(airflow.settings(graph_uri="falkor://127.0.0.1:6599/nowhere"))

    assert worker.cycle() is None

    errors = error_lines(caplog)
    assert len(errors) == 1 and errors[0].exc_info is None
    assert "127.0.0.1:6599" in errors[0].getMessage() and "unreachable" in errors[0].getMessage()


def test_worker_survives_airflow_restart(airflow_with_runs, graph, graph_uri, caplog):
    """Stop Airflow between cycles: the worker reports it, then catches up after restart."""
    airflow = airflow_with_runs
    worker = Worker(airflow.settings(graph_uri=graph_uri))
    assert worker.cycle() is not None
    runs_before = graph.read("MATCH (r:DagRun) RETURN count(r) AS n")[0]["n"]

    airflow.stop()
    try:
        assert worker.cycle() is None
        beat = worker_heartbeats(graph)[0]
        assert "unreachable" in beat["last_error"]
        assert len(error_lines(caplog)) == 1
    finally:
        airflow.start()

    new_run = trigger(worker.airflow, "etl_orders")
    wait_for_quiet_airflow(worker.airflow)
    outcome = worker.cycle()

    assert outcome is not None and outcome.sync.dag_errors == {}
    assert worker_heartbeats(graph)[0].get("last_error") is None
    keys = {r["key"] for r in graph.read("MATCH (r:DagRun) RETURN r.key AS key")}
    assert f"etl_orders/{new_run.dag_run_id}" in keys
    assert len(keys) > runs_before


class BrokenMonitor:
    """A detector with a bug in it (fault injection)."""

    def run(self, graph, now_ms):
        raise KeyError("duration_s")


def test_a_bug_in_detection_does_not_stop_syncing(airflow, graph, graph_uri, caplog):
    worker = Worker(airflow.settings(graph_uri=graph_uri))
    worker.monitor = BrokenMonitor()

    assert worker.cycle() is not None  # the sync itself went through
    assert "anomaly detection crashed unexpectedly" in caplog.text
    assert worker_heartbeats(graph)[0].get("last_error") is None
    assert graph.read("MATCH (d:Dag) RETURN count(d) AS n")[0]["n"] > 0
