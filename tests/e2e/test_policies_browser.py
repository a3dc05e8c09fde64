"""The Policies page in headless Chromium, served by the real Streamlit app on a real graph:
log in, see a condition rejected with its position, backtest 30 days of stored history,
save the policy and enable it. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import random
import sys
import time

import pytest
from playwright.sync_api import expect

from orcai.graph.load import load_dag_runs, load_dags
from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.falkordb import port_open
from orcai.localstack.process import start_service
from orcai.model import DagRecord, DagRunRecord
from orcai.graph import policy_store as store
from tests.conftest import APP_PORT as SESSION_APP_PORT
from tests.e2e.conftest import ARTIFACTS

PASSWORD = "browser-admin"
HOUR = 3_600_000
APP_PORT = SESSION_APP_PORT + 1  # the session's running product (tests/e2e/conftest.py) holds its own


@pytest.fixture
def app_on_history(graph, graph_uri, tmp_path):
    """30 days of runs every 6 h for three DAGs (one flaky), and the app serving them."""
    now, rng = int(time.time() * 1000), random.Random(7)
    dags = {"etl_orders": 0.03, "flaky_ingest": 0.35, "ml_training": 0.1}
    load_dags(graph, [DagRecord(d, is_paused=False, tags=("orcai-demo",), owners=("ops",)) for d in dags])
    load_dag_runs(graph, [DagRunRecord(d, f"scheduled__{i}", state="failed" if rng.random() < rate else "success",
                                       run_type="scheduled", run_after=now - (120 - i) * 6 * HOUR,
                                       start_date=now - (120 - i) * 6 * HOUR,
                                       end_date=now - (120 - i) * 6 * HOUR + 60_000, duration_s=60.0)
                          for d, rate in dags.items() for i in range(120)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
    env.update({"ORCAI_GRAPH_URI": graph_uri, "ORCAI_ADMIN_PASSWORD": PASSWORD})
    app = start_service("app", [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(APP_PORT),
                                "--server.address", "127.0.0.1", "--server.headless", "true"],
                        tmp_path / "app.log", env=env, cwd=REPO_ROOT)
    deadline = time.monotonic() + 60
    while not port_open("127.0.0.1", APP_PORT) and time.monotonic() < deadline:
        time.sleep(0.5)
    yield graph
    app.stop()


def test_write_backtest_save_and_enable_a_policy_in_a_browser(app_on_history, browser):
    graph = app_on_history
    ARTIFACTS.mkdir(exist_ok=True)
    # The session's Chromium (tests/e2e/conftest.py): a second Playwright cannot run beside it.
    context = browser.new_context(viewport={"width": 1400, "height": 2000})  # Streamlit scrolls inside
    try:
        page = context.new_page()
        # Start at the root and wait for app.py's navigation: until it arrives (and on a first
        # request straight to /policies) Streamlit 1.67 shows its file-based list of pages/.
        page.goto(f"http://127.0.0.1:{APP_PORT}/")
        nav = page.locator('[data-testid="stSidebarNav"]')
        expect(nav.get_by_text("Status", exact=True)).to_be_visible(timeout=30_000)  # app.py's navigation
        nav.get_by_text("Policies", exact=True).click()
        page.get_by_label("Admin password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Logged in as admin")).to_be_visible(timeout=30_000)

        page.get_by_role("tab", name="Editor").click()
        page.get_by_role("textbox", name="Name", exact=True).fill("pause-flaky")
        condition = page.get_by_role("textbox", name="Condition (CEL)")
        condition.fill("dag.consecutive_failure >= 2\n  && run.state == 'failed'")
        condition.press("Control+Enter")
        expect(page.get_by_text("unknown fact 'dag.consecutive_failure'")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("line 1, column 5")).to_be_visible()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "policy-editor-validation-error.png"), full_page=True)

        condition.fill("dag.consecutive_failures >= 2 && run.state == 'failed'")
        condition.press("Control+Enter")
        expect(page.get_by_text("Condition is valid.")).to_be_visible(timeout=20_000)
        page.get_by_text("Enabled", exact=True).click()  # written disabled, enabled after the backtest
        page.get_by_role("button", name="Backtest on last 30 days").click()
        expect(page.get_by_text("Would have fired")).to_be_visible(timeout=30_000)
        page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').first.wait_for(
            timeout=20_000)
        page.wait_for_timeout(1_500)  # the chart and the grid paint
        page.screenshot(path=str(ARTIFACTS / "policy-backtest.png"), full_page=True)
        fired = page.locator('[data-testid="stMetric"]', has_text="Would have fired")
        assert int(fired.locator('[data-testid="stMetricValue"]').inner_text()) > 0

        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Save pause-flaky: done.")).to_be_visible(timeout=20_000)
        saved = store.get_policy(graph, "pause-flaky")
        assert saved is not None and not saved.enabled and saved.mode == "dry_run"

        page.get_by_role("tab", name="Policies").click()
        page.get_by_role("button", name="Enable").click()
        expect(page.get_by_text("Enable pause-flaky: done.")).to_be_visible(timeout=20_000)
        assert store.get_policy(graph, "pause-flaky").enabled
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()


def test_backtest_a_resource_policy_over_real_prometheus_history_in_a_browser(node_prometheus, graph, graph_uri,
                                                                                tmp_path, browser):
    """Node exporter -> Prometheus history -> the page's backtest of a policy reading
    resource.node_runnable at each run's end (runs of the last minute); screenshot."""
    import json
    import urllib.parse
    import urllib.request

    def samples() -> int:
        query = urllib.parse.urlencode({"query": "count_over_time(node_procs_running[5m])"})
        with urllib.request.urlopen(f"{node_prometheus.url}/api/v1/query?{query}", timeout=10) as response:
            result = json.load(response)["data"]["result"]
        return int(float(result[0]["value"][1])) if result else 0

    deadline = time.monotonic() + 180
    while samples() < 90:
        assert time.monotonic() < deadline, "Prometheus did not gather 90 s of node data"
        time.sleep(2)
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("etl_orders", is_paused=False)])
    load_dag_runs(graph, [DagRunRecord("etl_orders", f"manual__{i}", state="failed" if i % 2 else "success",
                                       run_type="manual", run_after=now - (60 - 10 * i) * 1000,
                                       start_date=now - (60 - 10 * i) * 1000, end_date=now - (55 - 10 * i) * 1000,
                                       duration_s=5.0) for i in range(6)])
    resources = tmp_path / "resources.yaml"
    resources.write_text(json.dumps({"resources": [{"name": "node_runnable", "unit": "processes",
                                                    "description": "runnable processes (node exporter)",
                                                    "query": "max_over_time(node_procs_running[2m])"}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
    env.update({"ORCAI_GRAPH_URI": graph_uri, "ORCAI_PROMETHEUS_URL": node_prometheus.url,
                "ORCAI_RESOURCES_FILE": str(resources)})
    app = start_service("app", [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(APP_PORT),
                                "--server.address", "127.0.0.1", "--server.headless", "true"],
                        tmp_path / "app.log", env=env, cwd=REPO_ROOT)
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", APP_PORT) and time.monotonic() < deadline:
            time.sleep(0.5)
        ARTIFACTS.mkdir(exist_ok=True)
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{APP_PORT}/")
        nav = page.locator('[data-testid="stSidebarNav"]')
        expect(nav.get_by_text("Status", exact=True)).to_be_visible(timeout=30_000)
        nav.get_by_text("Policies", exact=True).click()
        page.get_by_role("tab", name="Editor").click()
        expect(page.get_by_text("Resource facts")).to_be_visible(timeout=20_000)  # the reference table is a canvas grid
        condition = page.get_by_role("textbox", name="Condition (CEL)")
        condition.fill("run.state == 'failed' && resource.node_runnable >= 1")
        condition.press("Control+Enter")
        expect(page.get_by_text("Condition is valid.")).to_be_visible(timeout=20_000)
        page.get_by_role("button", name="Backtest on last 30 days").click()
        expect(page.get_by_text("Would have fired")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("resource.node_runnable has history from")).to_be_visible(timeout=10_000)
        page.wait_for_timeout(1_500)
        page.screenshot(path=str(ARTIFACTS / "policy-resource-backtest.png"), full_page=True)
        fired = page.locator('[data-testid="stMetric"]', has_text="Would have fired")
        # three failed runs, all with a CPU fact; the 60-min default cooldown lets the first one fire
        assert int(fired.locator('[data-testid="stMetricValue"]').inner_text()) == 1
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()
        app.stop()
