"""End to end, as an operator sees it: the real worker process syncs the real Airflow,
the real Streamlit app serves the Status page, headless Chromium reads it."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
from playwright.sync_api import sync_playwright

from orcai.graph import connect
from orcai.graph.queries import worker_heartbeats
from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.falkordb import port_open
from orcai.localstack.process import start_service
from tests.conftest import APP_PORT, api_json

pytestmark = pytest.mark.integration
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def running_product(airflow_with_runs, graph_uri, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
    env.update({"ORCAI_AIRFLOW_URL": airflow_with_runs.url, "ORCAI_GRAPH_URI": graph_uri,
                "ORCAI_AIRFLOW_PASSWORD_FILE": str(airflow_with_runs.password_file),
                "ORCAI_SYNC_INTERVAL_S": "5"})
    worker = start_service("worker", [sys.executable, "-m", "workers.worker"],
                           tmp_path / "worker.log", env=env, cwd=REPO_ROOT)
    app = start_service("app", [sys.executable, "-m", "streamlit", "run", "app.py",
                                "--server.port", str(APP_PORT), "--server.address", "127.0.0.1"],
                        tmp_path / "app.log", env=env, cwd=REPO_ROOT)
    graph = connect(airflow_with_runs.settings(graph_uri=graph_uri))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
            _synced(graph) and port_open("127.0.0.1", APP_PORT)):
        time.sleep(0.5)
    yield worker, app, graph, airflow_with_runs
    app.stop()
    worker.stop()


def _synced(graph) -> bool:
    try:
        beats = worker_heartbeats(graph)
    except Exception:  # the worker creates the graph on its first cycle
        return False
    return bool(beats) and beats[0].get("last_ok_at") is not None


def grid_text(page, timeout_s: float = 20) -> set[str]:
    """The cells of the data grid (a hidden accessibility table), once it has painted."""
    deadline = time.monotonic() + timeout_s
    while True:
        cells = {c.strip() for c in page.locator('[data-testid="stDataFrame"] td').all_text_contents()}
        if len(cells) > 20 or time.monotonic() > deadline:
            return cells
        page.wait_for_timeout(500)


def test_status_page_in_a_browser(running_product):
    worker, app, graph, _ = running_product
    assert _synced(graph), worker.log_tail()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"http://127.0.0.1:{APP_PORT}/")
        page.get_by_text("Success rate (24 h)").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1_000)  # let the data grid paint before the screenshot
        page.screenshot(path=str(ARTIFACTS / "status.png"), full_page=True)

        assert page.get_by_role("heading", name="Status").is_visible()
        metric = page.locator('[data-testid="stMetric"]', has_text="DAGs").first
        dags_in_airflow = api_json(running_product[3], "/dags?limit=1")["total_entries"]
        assert metric.locator('[data-testid="stMetricValue"]').inner_text() == str(dags_in_airflow)
        demo = {"etl_orders", "regional_report", "flaky_ingest", "ml_training", "orders_dashboard"}
        assert demo <= grid_text(page), "DAGs with runs come first in the table"
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()


def test_worker_stops_cleanly_on_sigterm(running_product):
    worker, *_ = running_product
    os.killpg(worker.process.pid, signal.SIGTERM)
    assert worker.process.wait(timeout=30) == 0
    assert "worker stopped" in worker.log_tail()
