"""The Status page's Running now panel in Chromium during a slowed run: the report DAG's
transform has run 30 min against its usual 1 min, and its deadline is a minute away.
No Airflow: the graph holds the history (tests/integration/test_forecasts.py) and the
real forecast stage forecasts it; the screenshot goes to test-artifacts/running-now.png."""

from __future__ import annotations

import os
import sys
import time

from orcai.config import load_settings
from orcai.forecast.stage import ForecastStage
from orcai.graph.load import load_dags
from orcai.graph.worker_store import write_heartbeat
from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.falkordb import port_open
from orcai.localstack.process import start_service
from orcai.model import DagRecord
from tests.conftest import APP_PORT
from tests.e2e.conftest import screenshot, wait_until_drawn
from tests.integration.test_forecasts import load_report_dag

PORT = APP_PORT + 1  # beside the session product's app


def test_running_now_panel_during_a_slowed_run(graph, graph_uri, page, tmp_path):
    now = int(time.time() * 1000)
    load_report_dag(graph, now)
    load_dags(graph, [DagRecord("report", is_paused=False, tags=("deadline:+32m",))])  # due in a minute
    ForecastStage(load_settings(graph_uri=graph_uri)).run(graph, now)
    write_heartbeat(graph, "worker", {"last_sync_at": now, "last_ok_at": now, "last_error": None})
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
    env.update({"ORCAI_GRAPH_URI": graph_uri, "ORCAI_METRICS_PORT": "0"})
    app = start_service("app", [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                "--server.port", str(PORT), "--server.address", "127.0.0.1"],
                        tmp_path / "app.log", env=env, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", PORT):
            assert time.monotonic() < deadline, app.log_tail()
            time.sleep(0.5)
        page.goto(f"http://127.0.0.1:{PORT}/")
        page.get_by_text("Running now").first.wait_for(timeout=60_000)
        wait_until_drawn(page)
        panel = page.get_by_text("Running now").first
        panel.scroll_into_view_if_needed()
        path = screenshot(page, "running-now")
        assert path.exists() and page.locator('[data-testid="stException"]').count() == 0
        # the grid's cells reach the DOM a moment after it is drawn: on a loaded machine (CI,
        # 2026-11-29) the text was read before they did; a timeout here is the same failure
        page.get_by_text("transform").first.wait_for(state="attached", timeout=30_000)
        assert page.get_by_text("transform").count()
    finally:
        app.stop()
