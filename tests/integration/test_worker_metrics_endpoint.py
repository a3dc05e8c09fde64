"""The worker process (`python -m workers.worker`) serves /metrics, or says in one line why not."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.request

import pytest

from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.process import start_service, wait_until
from tests.net import free_port

pytestmark = pytest.mark.integration


def metrics_text(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def start_worker(tmp_path, graph_uri: str, metrics_port: int, name: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
    env.update(ORCAI_GRAPH_URI=graph_uri, ORCAI_AIRFLOW_URL="http://127.0.0.1:9",  # nothing listens there
               ORCAI_AIRFLOW_PASSWORD="unused", ORCAI_AIRFLOW_TIMEOUT_S="2", ORCAI_SYNC_INTERVAL_S="5",
               ORCAI_METRICS_HOST="127.0.0.1", ORCAI_METRICS_PORT=str(metrics_port))
    return start_service(name, [sys.executable, "-m", "workers.worker"], tmp_path / f"{name}.log",
                         env=env, cwd=REPO_ROOT)


def test_the_worker_process_serves_its_metrics_and_counts_failed_syncs(graph_uri, tmp_path):
    port = free_port()
    worker = start_worker(tmp_path, graph_uri, port, "worker")
    try:
        wait_until(lambda: 'orcai_sync_errors_total{reason="airflow_unreachable"} 1.0' in (metrics_text(port) or ""),
                   worker, timeout_s=60)
        assert f"metrics on http://127.0.0.1:{port}/metrics" in worker.log_tail(50)
        os.killpg(worker.process.pid, signal.SIGTERM)
        assert worker.process.wait(timeout=30) == 0
        assert "worker stopped" in worker.log_tail()
    finally:
        worker.stop()


def test_a_taken_metrics_port_is_one_line_and_the_worker_keeps_syncing(graph_uri, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        worker = start_worker(tmp_path, graph_uri, taken.getsockname()[1], "worker-taken")
        try:
            deadline = time.monotonic() + 60
            while worker.log_tail(50).count("sync failed") < 2 and time.monotonic() < deadline:
                assert worker.running(), worker.log_tail()
                time.sleep(0.5)
            log = worker.log_tail(50)
        finally:
            worker.stop()
    assert log.count("sync failed") >= 2, log  # it went on to a second cycle
    assert log.count("metrics endpoint not started") == 1 and "ORCAI_METRICS_PORT" in log
    assert "Traceback" not in log
