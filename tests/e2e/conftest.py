"""The running product for the browser tests, started once per session: the real worker
syncing the session's real Airflow (demo DAGs with finished runs) into FalkorDB, the real
Streamlit app, and Debian's Chromium driven by Playwright. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from orcai.graph import Graph, connect
from orcai.graph.worker_store import worker_heartbeats
from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.falkordb import port_open
from orcai.localstack.process import Service, start_service
from tests.conftest import APP_PORT, FALKOR_PORT, LocalAirflow

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class RunningProduct:
    worker: Service
    app: Service
    graph: Graph
    airflow: LocalAirflow
    env: dict[str, str]
    url: str


def product_env(airflow: LocalAirflow, graph_uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
    env.update({"ORCAI_AIRFLOW_URL": airflow.url, "ORCAI_GRAPH_URI": graph_uri,
                "ORCAI_AIRFLOW_PASSWORD_FILE": str(airflow.password_file), "ORCAI_SYNC_INTERVAL_S": "5",
                "ORCAI_METRICS_PORT": "0"})
    return env


def synced(graph: Graph) -> bool:
    try:
        beats = worker_heartbeats(graph)
    except Exception:  # the worker creates the graph on its first cycle
        return False
    return bool(beats) and beats[0].get("last_ok_at") is not None


@pytest.fixture(scope="session")
def running_product(airflow_with_runs, falkordb_server, tmp_path_factory) -> RunningProduct:
    graph_uri = f"falkor://127.0.0.1:{FALKOR_PORT}/e2e_product"
    env = product_env(airflow_with_runs, graph_uri)
    logs = tmp_path_factory.mktemp("product")
    worker = start_service("worker", [sys.executable, "-m", "workers.worker"], logs / "worker.log",
                           env=env, cwd=REPO_ROOT)
    app = start_service("app", [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                "--server.port", str(APP_PORT), "--server.address", "127.0.0.1"],
                        logs / "app.log", env=env, cwd=REPO_ROOT)
    graph = connect(airflow_with_runs.settings(graph_uri=graph_uri))
    deadline = time.monotonic() + 240  # a first sync of 120 DAGs takes 20 s on a slow, busy machine
    while not (synced(graph) and port_open("127.0.0.1", APP_PORT)):
        if time.monotonic() > deadline:
            tails = f"{worker.log_tail()}\n{app.log_tail()}"
            app.stop()
            worker.stop()
            pytest.fail(f"the product did not come up within 240 s:\n{tails}")
        time.sleep(0.5)
    yield RunningProduct(worker, app, graph, airflow_with_runs, env, f"http://127.0.0.1:{APP_PORT}")
    app.stop()
    worker.stop()
    graph.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()


def wait_until_drawn(page, timeout_ms: int = 60_000) -> None:
    """Wait until the page's title is shown, Streamlit has finished running the page
    script, no spinner is left, and data grids and charts have had time to paint."""
    page.locator("h1").first.wait_for(timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSpinner\"]')", timeout=timeout_ms)
    page.wait_for_timeout(1_000)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def grid_text(page, timeout_s: float = 60, minimum: int = 20) -> set[str]:
    """The cells of the data grids (a hidden accessibility table), once they have painted."""
    deadline = time.monotonic() + timeout_s
    while True:
        cells = {c.strip() for c in page.locator('[data-testid="stDataFrame"] td').all_text_contents()}
        if len(cells) > minimum or time.monotonic() > deadline:
            return cells
        page.wait_for_timeout(500)
