"""Sign-in with a real OpenID Connect provider, in Chromium: the certified `oidc-provider`
(tests/oidc_provider) with users in the viewer, operator and admin groups, the real app
started as `make up` starts it (python -m orcai.serve_app, which writes Streamlit's [auth]
secrets from ORCAI_OIDC_*), the session's FalkorDB and Airflow. People sign in through the
provider's own login form. Screenshots go to test-artifacts/: oidc-sign-in-page.png and
oidc-action-log-by-person.png."""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from orcai.airflow import AirflowClient
from orcai.graph import Graph, anomaly_store, connect
from orcai.graph import policy_store as store
from orcai.graph.load import ensure_schema, load_dags
from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.falkordb import port_open
from orcai.localstack.process import Service, start_service, wait_until
from orcai.model import DagRecord
from orcai.policy.engine import Decision
from orcai.policy.model import parse_policy
from tests.conftest import APP_PORT as SESSION_APP_PORT
from tests.conftest import FALKOR_PORT, PORT_OFFSET
from tests.e2e.conftest import ARTIFACTS
from tests.oidc_provider import OidcProvider, start_oidc_provider

pytestmark = pytest.mark.integration
APP_PORT = SESSION_APP_PORT + 5  # the other browser tests use +0 and +1
OIDC_PORT = 9651 + PORT_OFFSET
APP_URL = f"http://127.0.0.1:{APP_PORT}"
DAG = "etl_orders"
PAUSE_KEY = f"pause-etl@v1:pause:{DAG}:r1"


@dataclass
class SignInProduct:
    provider: OidcProvider
    app: Service
    graph: Graph
    airflow: AirflowClient
    cookie_secret_file: os.PathLike


def seed(graph: Graph, now: int) -> None:
    """A policy, an open anomaly, and a pause the policy did (to be undone by a person)."""
    ensure_schema(graph)
    load_dags(graph, [DagRecord(DAG, is_paused=True)])
    policy = store.save_policy(graph, parse_policy({"name": "pause-etl", "condition": "dag.consecutive_failures >= 2",
                                                    "actions": ["pause"], "mode": "enforce"}),
                               "shipped: test.yaml", now, change="install")
    anomaly_store.load_anomalies(graph, [{
        "key": f"slow:{DAG}/r1", "kind": "slow", "dag_id": DAG, "task_id": "load", "run_id": "r1",
        "task_key": f"{DAG}.load", "severity": "high", "score": 9.0, "reason": "took 5x its median",
        "detected_at": now, "target_label": "Dag", "target_key": DAG}])
    store.record_decisions(graph, [Decision(PAUSE_KEY, policy, DAG, policy.actions[0], "execute",
                                            "failed twice in a row", {"run": {"id": "r1"}})], now)
    store.set_action_outcome(graph, PAUSE_KEY, "done", now)


@pytest.fixture(scope="module")
def sign_in_product(airflow, falkordb_server, tmp_path_factory) -> SignInProduct:
    workdir = tmp_path_factory.mktemp("oidc")
    provider = start_oidc_provider(workdir, OIDC_PORT, f"{APP_URL}/oauth2callback")
    graph_uri = f"falkor://127.0.0.1:{FALKOR_PORT}/e2e_oidc"
    client = AirflowClient(airflow.settings(airflow_timeout_s=60))
    deadline = time.monotonic() + 240
    while DAG not in {d.dag_id for d in client.list_dags()} and time.monotonic() < deadline:
        time.sleep(1)  # the dag-processor parses the DAG files after startup
    was_paused = client.get_dag(DAG).is_paused
    client.set_paused(DAG, True)  # what the seeded policy action did
    graph = connect(airflow.settings(graph_uri=graph_uri))
    graph.write("MATCH (n) DETACH DELETE n")
    seed(graph, int(time.time() * 1000))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
    env.update({"ORCAI_GRAPH_URI": graph_uri, "ORCAI_AIRFLOW_URL": airflow.url,
                "ORCAI_AIRFLOW_PASSWORD_FILE": str(airflow.password_file), "ORCAI_METRICS_PORT": "0",
                "ORCAI_HOME": str(workdir), "ORCAI_APP_URL": APP_URL, "ORCAI_OIDC_ISSUER": provider.issuer,
                "ORCAI_OIDC_CLIENT_ID": provider.client_id,
                "ORCAI_OIDC_CLIENT_SECRET_FILE": str(provider.client_secret_file),
                "ORCAI_OIDC_SCOPES": "openid profile email groups"})
    app = start_service("app", [sys.executable, "-m", "orcai.serve_app", "--server.port", str(APP_PORT),
                                "--server.address", "127.0.0.1", "--server.headless", "true"],
                        workdir / "app.log", env=env, cwd=REPO_ROOT)
    wait_until(lambda: port_open("127.0.0.1", APP_PORT), app, timeout_s=60)
    yield SignInProduct(provider, app, graph, client, workdir / "oidc_cookie_secret")
    app.stop()
    provider.stop()
    client.set_paused(DAG, was_paused)  # leave the session's Airflow as it was
    client.close()
    graph.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1600})  # a fresh cookie jar each test
    yield context.new_page()
    context.close()


def sign_in(page: Page, product: SignInProduct, login: str, password: str | None = None) -> None:
    """Through the app's sign-in button and the provider's own login form, back to the app."""
    page.goto(APP_URL + "/")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"^{re.escape(product.provider.issuer)}/interaction/"), timeout=30_000)
    page.get_by_label("Username").fill(login)
    page.get_by_label("Password").fill(password or product.provider.users[login]["password"])
    page.get_by_role("button", name="Sign in").click()


def open_page(page: Page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()


def signed_in_as(page: Page, name: str, role: str) -> None:
    expect(page.get_by_text(f"Signed in as {name} ({role})")).to_be_visible(timeout=60_000)


def test_an_unsigned_user_sees_only_the_sign_in_page(sign_in_product, page):
    ARTIFACTS.mkdir(exist_ok=True)
    for path in ("/", "/policies", "/anomalies"):
        page.goto(APP_URL + path)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("sign in with your team account at")).to_be_visible()
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        assert "pause-etl" not in page.content() and DAG not in page.content()
        assert page.get_by_text("Page not found").count() == 0  # a deep link gets the sign-in page too
        if path == "/":
            page.screenshot(path=str(ARTIFACTS / "oidc-sign-in-page.png"), full_page=True)


def test_a_wrong_password_is_refused_by_the_provider(sign_in_product, page):
    sign_in(page, sign_in_product, "ada", password="not-her-password")
    expect(page.get_by_text("Wrong username or password.")).to_be_visible(timeout=30_000)
    assert not page.url.startswith(APP_URL)


def test_a_viewer_reads_but_cannot_write(sign_in_product, page):
    sign_in(page, sign_in_product, "vera")
    signed_in_as(page, "Vera Viewer", "viewer")
    open_page(page, "Anomalies")
    expect(page.get_by_role("button", name="Acknowledge")).to_be_disabled(timeout=30_000)
    open_page(page, "Policies")
    page.get_by_role("button", name="Switch to dry_run").click()
    expect(page.get_by_text("Vera Viewer may not switch policy mode: that takes the operator role")).to_be_visible(
        timeout=30_000)
    page.get_by_role("tab", name="Action log").click()
    page.get_by_role("button", name="Undo (unpause, or restore the pool's slots, in Airflow)").click()
    expect(page.get_by_text("Vera Viewer may not undo action")).to_be_visible(timeout=30_000)
    graph = sign_in_product.graph
    assert store.get_policy(graph, "pause-etl").version == 1 and store.get_action(graph, PAUSE_KEY)["status"] == "done"
    assert sign_in_product.airflow.get_dag(DAG).is_paused


def test_a_person_in_no_mapped_group_is_refused(sign_in_product, page):
    sign_in(page, sign_in_product, "nora")
    expect(page.get_by_text("Nora Nogroup is signed in but in no group")).to_be_visible(timeout=60_000)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0


def test_an_operator_acknowledges_and_undoes_but_cannot_edit_and_the_log_names_them(sign_in_product, page):
    graph = sign_in_product.graph
    sign_in(page, sign_in_product, "olga")
    signed_in_as(page, "Olga Operator", "operator")
    open_page(page, "Anomalies")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("No anomalies match")).to_be_visible(timeout=30_000)  # it left the open list
    [review] = anomaly_store.anomaly_history(graph, f"slow:{DAG}/r1")
    assert (review["by"], review["subject"], review["page"], review["status"]) == (
        "Olga Operator", "olga", "Anomalies", "acknowledged")

    open_page(page, "Policies")
    page.get_by_role("tab", name="Editor").click()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("takes the admin role")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Action log").click()
    page.get_by_role("button", name="Undo (unpause, or restore the pool's slots, in Airflow)").click()
    expect(page.get_by_text("done.")).to_be_visible(timeout=60_000)
    assert not sign_in_product.airflow.get_dag(DAG).is_paused  # confirmed in Airflow
    undo = store.get_action(graph, f"undo:{PAUSE_KEY}")
    assert (undo["by"], undo["by_subject"], undo["page"], undo["status"]) == ("Olga Operator", "olga", "Policies", "done")
    notice = graph.read("MATCH (a:Alert) WHERE a.key STARTS WITH 'manual_action:' RETURN a.payload AS payload")
    assert notice and "Olga Operator" in notice[0]["payload"]  # the Slack notice names her

    page.get_by_role("tab", name="Action log").click()
    expect(page.locator('[data-testid="stDataFrame"]').last).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1_500)  # the grid paints its cells on a canvas
    page.screenshot(path=str(ARTIFACTS / "oidc-action-log-by-person.png"), full_page=True)


def test_an_admin_edits_policies_and_the_version_names_them(sign_in_product, page):
    graph = sign_in_product.graph
    sign_in(page, sign_in_product, "ada")
    signed_in_as(page, "Ada Admin", "admin")
    open_page(page, "Policies")
    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_text("Disable pause-etl: done.")).to_be_visible(timeout=30_000)
    latest = store.policy_history(graph, "pause-etl")[0]
    assert (latest["author"], latest["subject"], latest["page"], latest["change"]) == (
        "Ada Admin", "ada", "Policies", "disable")


def test_no_secret_reaches_the_logs_or_the_pages(sign_in_product, page):
    product = sign_in_product
    secrets = [product.provider.client_secret, open(product.cookie_secret_file).read().strip()]
    secrets += [user["password"] for user in product.provider.users.values()]
    page.goto(APP_URL + "/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    logs = product.app.log_path.read_text() + product.provider.service.log_path.read_text()
    for secret in secrets:
        assert secret not in logs and secret not in page.content()
