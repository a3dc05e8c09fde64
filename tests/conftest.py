"""Session-wide real services for the tests: FalkorDB and Airflow.

Each is started once per session, on ports apart from `make up`'s so both can run at
once, and stopped at the end. Airflow's virtualenv is cached under .orcai/airflow-venv.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from orcai.config import Settings, load_settings
from orcai.localstack.airflow import PASSWORDS_FILE, REPO_ROOT, start_airflow
from orcai.localstack.falkordb import start_falkordb
from orcai.localstack.process import Service

# TEST_PORT_OFFSET shifts every port the session opens, so two sessions can run at once.
PORT_OFFSET = int(os.environ.get("TEST_PORT_OFFSET", "0"))
FALKOR_PORT = 6390 + PORT_OFFSET
FALKOR_BOLT_PORT = 7690 + PORT_OFFSET  # for the graph contract tests' own FalkorDB with Bolt
AIRFLOW_PORT = 8189 + PORT_OFFSET
APP_PORT = 8601 + PORT_OFFSET  # Streamlit in the browser tests
_graph_names = itertools.count()

# The tiers (registered in pytest.ini), decided here for every test:
#   fast         no service: unit tests, pages in AppTest without a graph, static stack checks.
#                `make test-fast`, the edit loop (under a minute).
#   integration  real services: FalkorDB, Airflow, Debian's Prometheus tools.
#   e2e          the running product (worker and app processes), Chromium: tests/e2e/.
# A test's tier follows from the fixtures it uses; only a test that starts a service or runs
# a Debian tool by itself carries an explicit `integration` mark.
SERVICE_FIXTURES = frozenset({"falkordb_server", "airflow"})  # every other service fixture needs one
E2E_FIXTURES = frozenset({"running_product", "browser"})


def tier(item: pytest.Item) -> str:
    used = set(getattr(item, "fixturenames", ()))
    if used & E2E_FIXTURES or Path(item.path).is_relative_to(Path(__file__).parent / "e2e"):
        return "e2e"
    if used & SERVICE_FIXTURES or item.get_closest_marker("integration"):
        return "integration"
    return "fast"


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(tier(item))


@pytest.fixture(autouse=True)
def clean_orcai_env(monkeypatch):
    """No ORCAI_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("ORCAI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(REPO_ROOT)  # .env lookups and relative paths behave the same everywhere


@pytest.fixture(scope="session")
def falkordb_server(tmp_path_factory):
    service = start_falkordb(tmp_path_factory.mktemp("falkordb"), FALKOR_PORT)
    yield service
    service.stop()


@pytest.fixture
def graph_uri(falkordb_server, request) -> str:
    """A fresh, empty graph on the session's FalkorDB for each test."""
    name = f"t{next(_graph_names)}_{request.node.name[:40]}".replace("[", "_").replace("]", "")
    return f"falkor://127.0.0.1:{FALKOR_PORT}/{name}"


@pytest.fixture
def graph(graph_uri):
    from orcai.graph import connect
    from orcai.graph.load import ensure_schema
    g = connect(load_settings(graph_uri=graph_uri))
    ensure_schema(g)
    yield g
    g.close()


@pytest.fixture(scope="session")
def slack_sink_server():
    from tests.slack_sink import SlackSink
    sink = SlackSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def slack_sink(slack_sink_server):
    """The session's Slack-compatible sink, emptied and with no scripted faults, for each test."""
    slack_sink_server.reset()
    return slack_sink_server


@dataclass
class LocalAirflow:
    url: str
    home: Path
    venv: Path
    service: Service
    slack_webhook_url: str  # where the demo DAGs' failure notifier posts (the session sink)

    @property
    def password_file(self) -> Path:
        return self.home / PASSWORDS_FILE

    def settings(self, **overrides) -> Settings:
        # A generous timeout: the test Airflow answers slowly when the machine is busy.
        values = dict(airflow_url=self.url, airflow_username="admin",
                      airflow_password_file=self.password_file, sync_lookback_days=2, airflow_timeout_s=60)
        values.update(overrides)
        return load_settings(**values)

    def stop(self) -> None:
        self.service.stop()

    def start(self) -> None:
        self.service = _start_test_airflow(self.home, self.venv, self.slack_webhook_url)


DEMO_DAGS = ("etl_orders", "flaky_ingest", "ml_training", "orders_dashboard", "regional_report")


# The graph the orcai_cycle DAG writes to when the tests trigger it.
CYCLE_GRAPH_URI = f"falkor://127.0.0.1:{FALKOR_PORT}/orcai_cycle"


def _start_test_airflow(home: Path, venv: Path, slack_webhook_url: str) -> Service:
    # Airflow's own example DAGs give real, varied topologies (branching, mapping, assets).
    # Every DAG starts paused; the fixture unpauses only the demo DAGs, whose schedules are
    # stretched so that only the runs the tests trigger (plus one scheduled run each) exist.
    # The demo DAGs' failure notifier posts to the session's Slack sink. The ORCAI_*
    # variables are the settings of the orcai_cycle DAG's tasks (triggered only).
    slack_connection = json.dumps({"conn_type": "slack-incoming-webhook", "password": slack_webhook_url})
    return start_airflow(home, venv, AIRFLOW_PORT, timeout_s=300,
                         extra_env={"ORC_DEMO_INTERVAL_MIN": "600",
                                    "AIRFLOW__CORE__LOAD_EXAMPLES": "True",
                                    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                                    "AIRFLOW_CONN_SLACK_DEFAULT": slack_connection,
                                    "ORCAI_PYTHON": sys.executable,
                                    "ORCAI_CYCLE_SCHEDULE": "",
                                    "ORCAI_GRAPH_URI": CYCLE_GRAPH_URI,
                                    "ORCAI_AIRFLOW_URL": f"http://localhost:{AIRFLOW_PORT}",
                                    "ORCAI_AIRFLOW_PASSWORD_FILE": str(home.resolve() / PASSWORDS_FILE),
                                    "ORCAI_SYNC_LOOKBACK_DAYS": "2",
                                    "ORCAI_WORKER_NAME": "orcai_cycle",
                                    "ORCAI_AIRFLOW_TIMEOUT_S": "60",
                                    "ORCAI_METRICS_PORT": "0"},
                         echo=lambda msg: print(msg, flush=True))


AIRFLOW_WEBHOOK_NAME = "airflow"  # the sink path Airflow's notifier posts to: /services/T000/B000/airflow


@pytest.fixture(scope="session")
def airflow(tmp_path_factory, slack_sink_server) -> LocalAirflow:
    home = tmp_path_factory.mktemp("airflow-home")
    venv = REPO_ROOT / ".orcai" / "airflow-venv"
    webhook = slack_sink_server.webhook_url(AIRFLOW_WEBHOOK_NAME)
    local = LocalAirflow(f"http://localhost:{AIRFLOW_PORT}", home, venv,
                         _start_test_airflow(home, venv, webhook), webhook)
    yield local
    local.stop()


def wait_for_quiet_airflow(client, timeout_s: float = 240, dag_ids: tuple[str, ...] = DEMO_DAGS) -> None:
    """Wait until every DAG run of the demo DAGs (or of `dag_ids`) has finished. A slow answer
    from an overloaded Airflow (SQLite on a busy machine) is asked again until the deadline."""
    from orcai.errors import AirflowUnreachable
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            busy = [
                run for dag_id in dag_ids for run in client.list_dag_runs(dag_id, None)
                if str(getattr(run.state, "value", run.state)) not in ("success", "failed")
            ]
        except AirflowUnreachable:
            time.sleep(2)
            continue
        if not busy:
            return
        time.sleep(2)
    raise TimeoutError(f"Airflow runs still busy after {timeout_s} s")


def trigger(client, dag_id: str, attempts: int = 5, conf: dict | None = None):
    """Trigger a run, retrying Airflow's HTTP 500 'database is locked' (SQLite under load)."""
    from orcai.errors import AirflowResponseError
    for attempt in range(1, attempts + 1):
        try:
            return client.trigger_dag_run(dag_id, conf=conf)
        except AirflowResponseError as exc:
            if "HTTP 500" not in str(exc) or attempt == attempts:
                raise
            time.sleep(attempt)


@pytest.fixture(scope="session")
def airflow_with_runs(airflow) -> LocalAirflow:
    """The session Airflow after every demo DAG has run at least twice and all finished."""
    from orcai.airflow import AirflowClient
    client = AirflowClient(airflow.settings(airflow_timeout_s=60))  # patient on a busy machine
    deadline = time.monotonic() + 180
    while not set(DEMO_DAGS) <= {d.dag_id for d in client.list_dags()}:
        if time.monotonic() > deadline:
            raise TimeoutError("the demo DAGs were not parsed within 180 s")
        time.sleep(1)  # the dag-processor parses the DAG files after startup
    for dag_id in DEMO_DAGS:
        client.set_paused(dag_id, False)  # each gets one scheduled run
    wait_for_quiet_airflow(client)
    for dag_id in DEMO_DAGS:
        if dag_id != "orders_dashboard":  # asset-triggered by etl_orders
            trigger(client, dag_id)
    wait_for_quiet_airflow(client)
    client.close()
    return airflow


def api_json(airflow: LocalAirflow, path: str, body: dict | None = None) -> dict:
    """A raw GET (or POST of `body`) on Airflow's REST API, independent of ORC AI's client."""
    import urllib.request
    password = json.loads(airflow.password_file.read_text())["admin"]
    request = urllib.request.Request(
        f"{airflow.url}/auth/token", data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    token = json.load(urllib.request.urlopen(request, timeout=60))["access_token"]
    request = urllib.request.Request(
        f"{airflow.url}/api/v2{path}", data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST")
    return json.load(urllib.request.urlopen(request, timeout=60))


NODE_EXPORTER_PORT = 9290 + PORT_OFFSET
PROMETHEUS_PORT = 9291 + PORT_OFFSET


@dataclass
class LocalPrometheus:
    url: str
    node_exporter: Service
    prometheus: Service


@pytest.fixture(scope="session")
def node_prometheus(tmp_path_factory) -> LocalPrometheus:
    """Debian's node exporter (CPU and /proc/stat collectors) scraped every second by Debian's
    Prometheus, both on loopback ports from TEST_PORT_OFFSET."""
    import yaml

    from orcai.localstack.process import start_service, wait_until
    from tests.net import answers
    from tests.stack.tools import debian_tool

    home = tmp_path_factory.mktemp("prometheus")
    node_exporter = start_service("node-exporter", [
        debian_tool("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{NODE_EXPORTER_PORT}",
        "--collector.disable-defaults", "--collector.cpu", "--collector.stat"], home / "node-exporter.log")
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": "node", "static_configs": [
                  {"targets": [f"127.0.0.1:{NODE_EXPORTER_PORT}"]}]}]}
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    prometheus = start_service("prometheus", [
        debian_tool("prometheus"), f"--config.file={home / 'prometheus.yml'}",
        f"--storage.tsdb.path={home / 'data'}", f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"],
        home / "prometheus.log")

    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{NODE_EXPORTER_PORT}/metrics"), node_exporter, 30)
        wait_until(lambda: answers(f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready"), prometheus, 60)
        yield LocalPrometheus(f"http://127.0.0.1:{PROMETHEUS_PORT}", node_exporter, prometheus)
    finally:
        prometheus.stop()
        node_exporter.stop()
