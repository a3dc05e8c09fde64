"""The Policies page under AppTest against a real graph: validation, login, save, backtest, log."""

from __future__ import annotations

import time

import pytest

from orcai.graph.load import load_dag_runs, load_dags
from orcai.model import DagRecord, DagRunRecord
from orcai.graph import policy_store as store
from orcai.policy.model import parse_policy
from tests.integration.pages_harness import fresh_streamlit_caches, log_in, run_page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_streamlit_caches")]

PASSWORD = "correct horse battery staple"
NEW = "(new policy)"


def dataframes_with(app, column):
    return [d.value for d in app.dataframe if column in d.value.columns]


def condition_box(app):
    return next(t for t in app.text_area if t.key.startswith("condition-"))


def text_input(app, prefix):
    return next(t for t in app.text_input if t.key.startswith(prefix))


def test_invalid_condition_shows_its_error_with_position(monkeypatch, graph_uri, graph):
    app = run_page(monkeypatch, "policies", graph_uri)
    assert not app.exception
    condition_box(app).input("dag.consecutive_failure >= 2 &&\n run.state == 'failed'").run()
    messages = [e.value for e in app.error]
    assert any("unknown fact 'dag.consecutive_failure'" in m and "line 1, column 5" in m for m in messages), messages
    condition_box(app).input("dag.consecutive_failures >= 2 &&").run()
    assert any("syntax error" in e.value and "line 1, column 33" in e.value for e in app.error)


def test_writes_are_refused_without_login(monkeypatch, graph_uri, graph):
    monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", PASSWORD)
    app = run_page(monkeypatch, "policies", graph_uri)
    text_input(app, "name-").input("pause-etl").run()
    app.button(key="save-policy").click().run()
    assert any("log in as admin first" in e.value for e in app.error)
    assert store.load_policies(graph) == []


def test_no_write_on_a_policy_goes_through_without_login(monkeypatch, graph_uri, graph):
    monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", PASSWORD)
    store.save_policy(graph, parse_policy({"name": "p1", "condition": "dag.runs_24h > 100", "actions": ["pause"]}),
                      "admin", int(time.time() * 1000))
    app = run_page(monkeypatch, "policies", graph_uri)
    app.checkbox(key="confirm-delete").check().run()
    for key in ("toggle-enabled", "switch-mode", "delete-policy", "save-policy"):
        app.button(key=key).click().run()
        assert any("log in as admin first" in e.value for e in app.error), key
    policy = store.get_policy(graph, "p1")
    assert (policy.enabled, policy.mode, policy.version) == (True, "dry_run", 1)
    assert len(store.policy_history(graph, "p1")) == 1  # no new version was written


def test_read_only_without_a_configured_password(monkeypatch, graph_uri, graph):
    app = run_page(monkeypatch, "policies", graph_uri)
    assert any("Read-only" in c.value for c in app.sidebar.caption)
    app.button(key="save-policy").click().run()
    assert any("log in as admin first" in e.value for e in app.error) and store.load_policies(graph) == []


def test_wrong_password_is_refused_and_right_one_saves_a_valid_policy(monkeypatch, graph_uri, graph):
    monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", PASSWORD)
    app = run_page(monkeypatch, "policies", graph_uri)
    app.text_input(key="admin-password").input("wrong")
    app.button[[b.label for b in app.button].index("Log in")].click()
    app.run()
    assert any("Wrong password" in e.value for e in app.error)
    app = log_in(app, PASSWORD)
    assert any("Logged in as admin" in c.value for c in app.sidebar.caption)
    text_input(app, "name-").input("pause-etl").run()
    condition_box(app).input("dag.consecutive_failures >= 2 && dag.id.startsWith('etl')").run()
    app.button(key="save-policy").click().run()
    assert not app.exception
    [saved] = store.load_policies(graph)
    assert (saved.name, saved.version, saved.mode, saved.author) == ("pause-etl", 1, "dry_run", "admin")
    assert saved.condition == "dag.consecutive_failures >= 2 && dag.id.startsWith('etl')"


def test_backtest_lists_would_be_firings(monkeypatch, graph_uri, graph):
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("etl", is_paused=False, schedule="1:00:00"), DagRecord("ml", is_paused=False)])
    states = ["success", "failed", "failed", "success", "failed"]
    load_dag_runs(graph, [DagRunRecord("etl", f"r{i}", state=s, run_type="scheduled",
                                       start_date=now - (10 - i) * 3_600_000, end_date=now - (10 - i) * 3_600_000 + 60_000,
                                       run_after=now - (10 - i) * 3_600_000)
                          for i, s in enumerate(states)])
    app = run_page(monkeypatch, "policies", graph_uri)
    app.button(key="backtest").click().run()
    assert not app.exception
    assert app.metric[0].value == "1" and app.metric[1].value == "2"
    [firings] = dataframes_with(app, "actions")
    assert list(firings["run_id"]) == ["r2"] and list(firings["dag_id"]) == ["etl"]


def test_action_log_and_policy_list(monkeypatch, graph_uri, graph):
    now = int(time.time() * 1000)
    store.save_policy(graph, parse_policy({"name": "p1", "condition": "dag.runs_24h > 100", "actions": ["pause"]}),
                      "admin", now)
    app = run_page(monkeypatch, "policies", graph_uri)
    assert not app.exception
    [table] = dataframes_with(app, "last fired")
    assert list(table["name"]) == ["p1"] and list(table["mode"]) == ["dry_run"]


def test_admin_disables_switches_mode_and_edits_with_history(monkeypatch, graph_uri, graph):
    monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", PASSWORD)
    store.save_policy(graph, parse_policy({"name": "p1", "condition": "dag.runs_24h > 100", "actions": ["pause"]}),
                      "admin", int(time.time() * 1000))
    app = log_in(run_page(monkeypatch, "policies", graph_uri), PASSWORD)
    app.button(key="toggle-enabled").click().run()
    app.button(key="switch-mode").click().run()
    assert not app.exception
    policy = store.get_policy(graph, "p1")
    assert (policy.enabled, policy.mode, policy.version) == (False, "enforce", 3)
    app.selectbox(key="edit-choice").select("p1").run()
    condition_box(app).input("dag.runs_24h > 200").run()
    app.button(key="save-policy").click().run()
    assert store.get_policy(graph, "p1").condition == "dag.runs_24h > 200"
    assert [h["change"] for h in store.policy_history(graph, "p1")] == ["edit", "mode", "disable", "edit"]


def nested_seven_deep() -> str:
    body = "true"
    for level in reversed(range(7)):
        body = f"[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(v{level}, {body})"
    return f"dag.consecutive_failures >= 0 && {body}"


def test_the_expensive_condition_is_refused_at_save_with_a_plain_message(monkeypatch, graph_uri, graph):
    monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", PASSWORD)
    app = log_in(run_page(monkeypatch, "policies", graph_uri), PASSWORD)
    text_input(app, "name-").input("costly").run()
    started = time.monotonic()
    condition_box(app).input(nested_seven_deep()).run()
    assert time.monotonic() - started < 5  # 7 s of CEL before the budget, on a quiet machine
    assert any("too costly" in e.value and "nested 7 deep" in e.value for e in app.error), [e.value for e in app.error]
    app.button(key="save-policy").click().run()
    assert not app.exception and store.load_policies(graph) == []


def test_backtest_of_a_resource_policy_says_plainly_there_is_no_history(monkeypatch, graph_uri, graph):
    app = run_page(monkeypatch, "policies", graph_uri)  # no ORCAI_PROMETHEUS_URL
    condition_box(app).input("resource.node_cpu_busy > 0.9").run()
    app.button(key="backtest").click().run()
    assert not app.exception
    notes = [w.value for w in app.warning]
    assert any("resource.node_cpu_busy cannot be replayed: no Prometheus is configured" in n for n in notes), notes
