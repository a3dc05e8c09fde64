"""End to end, as an operator sees it: the Status page in Chromium matches Airflow, and
the worker stops cleanly."""

from __future__ import annotations

import os
import signal
import sys
import time

from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.process import start_service
from tests.conftest import api_json
from tests.e2e.conftest import grid_text, screenshot, wait_until_drawn


def test_status_page_in_a_browser(running_product, page):
    page.goto(running_product.url + "/")
    page.get_by_text("Success rate (24 h)").first.wait_for(timeout=30_000)
    wait_until_drawn(page)
    screenshot(page, "status")

    assert page.get_by_role("heading", name="Status").is_visible()
    metric = page.locator('[data-testid="stMetric"]', has_text="DAGs").first
    dags_in_airflow = api_json(running_product.airflow, "/dags?limit=1")["total_entries"]
    assert metric.locator('[data-testid="stMetricValue"]').inner_text() == str(dags_in_airflow)
    demo = {"etl_orders", "regional_report", "flaky_ingest", "ml_training", "orders_dashboard"}
    assert demo <= grid_text(page), "DAGs with runs come first in the table"
    assert page.locator('[data-testid="stException"]').count() == 0


def test_worker_stops_cleanly_on_sigterm(running_product, tmp_path):
    # A worker of its own, so the session's product keeps running for the other tests.
    env = {**running_product.env, "ORCAI_WORKER_NAME": "sigterm-test"}
    worker = start_service("worker", [sys.executable, "-m", "workers.worker"], tmp_path / "worker.log",
                           env=env, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        while "ORC AI worker" not in worker.log_tail() and time.monotonic() < deadline:
            time.sleep(0.5)
        os.killpg(worker.process.pid, signal.SIGTERM)
        assert worker.process.wait(timeout=30) == 0
        assert "worker stopped" in worker.log_tail()
    finally:
        worker.stop()
