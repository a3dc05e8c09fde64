"""Sign-in mode under AppTest against a real graph: st.user carries the claims Streamlit
hands the app after a sign-in. Nobody unsigned gets past the gate; a token from another
issuer, an expired session or a person in no mapped group is refused; a viewer's forged
clicks on every write widget are refused in orcai; an operator acknowledges and the
history names them. (The browser test with the real provider: tests/e2e/test_oidc_browser.py.)"""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from orcai.graph import anomaly_store
from orcai.graph import policy_store as store
from orcai.localstack.airflow import REPO_ROOT
from orcai.policy.model import parse_policy
from tests.integration.pages_harness import fresh_streamlit_caches  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_streamlit_caches")]
ISSUER = "http://127.0.0.2:9"  # never contacted: AppTest does not run the sign-in protocol
POLICY = {"name": "p1", "condition": "dag.runs_24h > 100", "actions": ["pause"]}


@pytest.fixture
def sign_in_mode(monkeypatch, graph_uri, graph, tmp_path):
    (tmp_path / "client_secret").write_text("client-secret-value\n")
    for name, value in {"GRAPH_URI": graph_uri, "OIDC_ISSUER": ISSUER, "OIDC_CLIENT_ID": "orcai",
                        "OIDC_CLIENT_SECRET_FILE": str(tmp_path / "client_secret"), "HOME": str(tmp_path)}.items():
        monkeypatch.setenv(f"ORCAI_{name}", value)
    now = int(time.time() * 1000)
    store.save_policy(graph, parse_policy(POLICY), "shipped: test.yaml", now, change="install")
    anomaly_store.load_anomalies(graph, [{
        "key": "slow:etl/r1", "kind": "slow", "dag_id": "etl", "task_id": "load", "run_id": "r1",
        "task_key": "etl.load", "severity": "high", "score": 9.0, "reason": "took 5x its median",
        "detected_at": now, "target_label": "Dag", "target_key": "etl"}])
    return graph


def claims(login: str, groups: list[str], **overrides) -> dict:
    return {"is_logged_in": True, "iss": ISSUER, "sub": f"sub-{login}", "name": login.title(),
            "groups": groups, "iat": int(time.time()) - 30, **overrides}


def run(script: str, user: dict) -> AppTest:
    app = AppTest.from_file(str(REPO_ROOT / script), default_timeout=60)
    app.user = user
    return app.run()


def texts(app: AppTest) -> str:
    return " ".join(str(e.value) for kind in (app.markdown, app.error, app.caption, app.title, app.subheader)
                    for e in kind)


def test_an_unsigned_user_sees_only_the_sign_in_page(sign_in_mode):
    app = run("app.py", {})
    assert not app.exception
    assert [b.label for b in app.button] == ["Sign in"]
    assert "sign in with your team account at **127.0.0.2**" in texts(app)
    assert "p1" not in texts(app) and not app.dataframe and not app.tabs


@pytest.mark.parametrize("script", ["app_pages/policies.py", "app_pages/anomalies.py", "app_pages/status.py"])
def test_a_page_script_run_without_app_py_is_gated_too(sign_in_mode, script):
    app = run(script, {})
    assert [b.label for b in app.button] == ["Sign in"] and not app.dataframe and not app.tabs


@pytest.mark.parametrize("changed, shown", [
    ({"iss": "http://evil.example.com"}, "another identity provider"),
    ({"iat": int(time.time()) - 43_201}, "session has expired"),
    ({"groups": ["staff"]}, "in no group that ORC AI maps to a role"),
])
def test_a_sign_in_that_does_not_count_is_refused(sign_in_mode, changed, shown):
    app = run("app.py", {**claims("olga", ["orcai-operators"]), **changed})
    assert not app.exception
    assert any(shown in e.value for e in app.error)
    assert {b.label for b in app.button} == {"Sign in", "Sign out"} and not app.dataframe


def test_a_viewers_forged_clicks_on_every_write_are_refused(sign_in_mode):
    graph = sign_in_mode
    before = (store.policy_history(graph, "p1"), anomaly_store.anomaly_history(graph, "slow:etl/r1"))
    viewer = claims("vera", ["orcai-viewers"])
    anomalies = run("app_pages/anomalies.py", viewer)
    assert all(anomalies.button(key=f"set-{s}").disabled for s in ("acknowledged", "false_positive"))
    for status in ("acknowledged", "false_positive"):
        forged = anomalies.button(key=f"set-{status}")
        forged.proto.disabled = False  # a crafted websocket message clicks a disabled button:
        forged.click().run()           # Streamlit discards it; enabled buttons reach orcai below
        assert not anomalies.exception
    policies = run("app_pages/policies.py", viewer)
    policies.checkbox(key="confirm-delete").check().run()
    for key in ("toggle-enabled", "switch-mode", "delete-policy", "save-policy"):
        policies.button(key=key).click().run()
        assert any("Vera may not" in e.value for e in policies.error), key
    assert (store.policy_history(graph, "p1"), anomaly_store.anomaly_history(graph, "slow:etl/r1")) == before
    assert anomaly_store.anomalies(graph, ["open"])[0]["anomaly"]["status"] == "open"


def test_an_operator_acknowledges_and_switches_mode_but_cannot_edit(sign_in_mode):
    graph = sign_in_mode
    operator = claims("olga", ["orcai-operators"])
    anomalies = run("app_pages/anomalies.py", operator)
    anomalies.button(key="set-acknowledged").click().run()
    assert not anomalies.exception
    [review] = anomaly_store.anomaly_history(graph, "slow:etl/r1")
    assert (review["by"], review["subject"], review["page"]) == ("Olga", "sub-olga", "Anomalies")
    anomalies.multiselect[0].select("acknowledged").run()  # the Status filter: it left the open ones
    history = next(d.value for d in anomalies.dataframe if "by" in d.value.columns and "page" in d.value.columns)
    assert list(history["by"]) == ["Olga"]
    policies = run("app_pages/policies.py", operator)
    policies.button(key="switch-mode").click().run()
    assert store.get_policy(graph, "p1").mode == "enforce"
    policies.selectbox(key="edit-choice").select("p1").run()
    policies.button(key="save-policy").click().run()
    assert any("Olga may not edit policy: that takes the admin role" in e.value for e in policies.error)
    assert [v["author"] for v in store.policy_history(graph, "p1")] == ["Olga", "shipped: test.yaml"]


def test_an_admin_edits_and_the_version_names_them(sign_in_mode):
    graph = sign_in_mode
    policies = run("app_pages/policies.py", claims("ada", ["orcai-admins"]))
    policies.button(key="toggle-enabled").click().run()
    assert not policies.exception and not store.get_policy(graph, "p1").enabled
    latest = store.policy_history(graph, "p1")[0]
    assert (latest["author"], latest["subject"], latest["page"], latest["change"]) == ("Ada", "sub-ada", "Policies",
                                                                                     "disable")
