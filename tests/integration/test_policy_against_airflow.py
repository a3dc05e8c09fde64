"""The shipped "two failures in a row → pause" policy against a real Airflow 3.3.

flaky_ingest is triggered twice with conf {"fail": true}; the real worker (sync, detection,
policies) then runs cycles. In dry run it records a would-be pause and Airflow is untouched;
in enforce it pauses the DAG (the REST API confirms), the Action is in the graph linked to
its policy and DAG, and the notice reaches Slack (the local sink) through the worker's Slack
stage; undo on the Policies page unpauses it.
"""

from __future__ import annotations

import json
import time

import pytest

from orcai.airflow import AirflowClient
from orcai.graph.alert_store import pending
from orcai.errors import AirflowUnreachable
from orcai.graph import policy_store as store
from tests.conftest import api_json, trigger
from tests.integration.pages_harness import fresh_streamlit_caches, run_page  # noqa: F401 (fixture)
from workers.worker import Worker

pytestmark = pytest.mark.integration

DAG = "flaky_ingest"
POLICY = "two-failures-pause"


def _wait_for_dag(client: AirflowClient) -> None:
    deadline = time.monotonic() + 180
    while DAG not in {d.dag_id for d in client.list_dags()}:
        assert time.monotonic() < deadline, f"{DAG} was not parsed within 180 s"
        time.sleep(1)


def _two_forced_failures(client: AirflowClient) -> None:
    """Two failed runs in a row (the session's other tests may have run it before)."""
    client.set_paused(DAG, False)  # a paused DAG's triggered runs would stay queued
    _wait_for_finished_runs(client, 1)
    for _ in range(2):
        trigger(client, DAG, conf={"fail": True})
    runs = _wait_for_finished_runs(client, 3)
    assert [_state(r) for r in runs[-2:]] == ["failed", "failed"]


def _state(run) -> str:
    return str(getattr(run.state, "value", run.state))


def _wait_for_finished_runs(client: AirflowClient, at_least: int, timeout_s: float = 300) -> list:
    """flaky_ingest's runs once at least `at_least` exist and all have finished (a slow,
    busy machine can time out one poll: that is retried, not a failure)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            runs = sorted(client.list_dag_runs(DAG, None), key=lambda r: r.run_after)
        except AirflowUnreachable:
            runs = []
        if len(runs) >= at_least and all(_state(r) in ("success", "failed") for r in runs):
            return runs
        time.sleep(2)
    raise TimeoutError(f"{DAG} did not finish {at_least} runs within {timeout_s} s")


def _actions(graph) -> list[dict]:
    rows = graph.read("MATCH (p:Policy)-[:FIRED]->(a:Action)-[:TARGETS]->(d:Dag) "
                      "RETURN properties(a) AS a, p.name AS policy, d.dag_id AS dag ORDER BY a.at, a.key")
    return [{**r["a"], "linked_policy": r["policy"], "linked_dag": r["dag"]} for r in rows]


@pytest.mark.usefixtures("fresh_streamlit_caches")
def test_shipped_policy_dry_run_then_enforce_pauses_flaky_ingest_and_undo_unpauses(airflow, graph_uri, monkeypatch,
                                                                                   slack_sink):
    client = AirflowClient(airflow.settings())
    _wait_for_dag(client)
    paused_before = client.get_dag(DAG).is_paused  # restored at the end for the session's other tests
    _two_forced_failures(client)
    # No Slack rate cap here: the session's other failures and incidents share the channel.
    worker = Worker(airflow.settings(graph_uri=graph_uri, sync_lookback_days=1, slack_max_messages_per_min=1000,
                                     slack_webhook_url=slack_sink.webhook_url("policies")))
    try:
        # 1. The shipped policy is installed in dry run: a would-be pause, Airflow untouched.
        assert worker.cycle() is not None
        assert store.get_policy(worker.graph, POLICY).mode == "dry_run"
        [would] = [a for a in _actions(worker.graph) if a["dag_id"] == DAG]
        assert (would["status"], would["kind"], would["dry_run"], would["linked_policy"], would["linked_dag"]) == (
            "would_do", "pause", True, POLICY, DAG)
        assert json.loads(would["facts"])["dag"]["consecutive_failures"] >= 2
        assert api_json(airflow, f"/dags/{DAG}")["is_paused"] is False

        # 2. An admin switches it to enforce: the worker pauses the DAG, confirmed by Airflow.
        store.change_policy(worker.graph, POLICY, "admin", int(time.time() * 1000), "mode", mode="enforce")
        assert worker.cycle().policies.done == 1
        assert api_json(airflow, f"/dags/{DAG}")["is_paused"] is True
        [done] = [a for a in _actions(worker.graph) if a["dag_id"] == DAG and not a["dry_run"]]
        assert (done["status"], done["kind"], done["policy_version"], done["linked_policy"]) == (
            "done", "pause", 2, POLICY)
        assert "2 failed run(s) in a row" in done["reason"] or "failed run(s) in a row" in done["reason"]

        # Both notices went to Slack (the sink), in the cycle that decided them, and left the outbox.
        # The channel also gets failure digests, incidents, and other DAGs' notices in the same
        # messages (the session's deadline_report may be running late).
        sent = slack_sink.wait_for(lambda m: "policies" in m.path and (f"Would pause {DAG}" in m.text
                                                                       or f"Paused {DAG}" in m.text),
                                   count=2, timeout_s=60)
        assert [f"Would pause {DAG}" in m.text for m in sent] == [True, False], [m.text for m in sent]
        assert f"Paused {DAG}" in sent[1].text, [m.text for m in sent]
        assert f"{POLICY} v2" in sent[1].text and "To undo" in sent[1].text
        assert not [a for a in pending(worker.graph, int(time.time() * 1000)) if a.kind == "policy_action"]

        # 3. Idempotent: another cycle acts on nothing and records nothing new.
        before = len(_actions(worker.graph))
        outcome = worker.cycle()
        assert outcome.policies.fired == 0 and len(_actions(worker.graph)) == before

        # 4. An admin undoes the pause from the Policies page's action log: Airflow unpauses it.
        monkeypatch.setenv("ORCAI_AIRFLOW_URL", airflow.url)
        monkeypatch.setenv("ORCAI_AIRFLOW_PASSWORD_FILE", str(airflow.password_file))
        monkeypatch.setenv("ORCAI_ADMIN_PASSWORD", "let-me-undo")
        app = run_page(monkeypatch, "policies", graph_uri)
        app.text_input(key="admin-password").input("let-me-undo")
        app.button[[b.label for b in app.button].index("Log in")].click()
        app.run()
        assert app.selectbox(key="undo-choice").value == done["key"]
        app.button(key="undo-pause").click().run()
        assert not app.exception and not app.error, [e.value for e in app.error]
        assert api_json(airflow, f"/dags/{DAG}")["is_paused"] is False
        assert store.get_action(worker.graph, done["key"])["status"] == "undone"
        [undo] = worker.graph.read("MATCH (u:Action)-[:UNDOES]->(:Action {key: $k}) RETURN properties(u) AS u",
                                   {"k": done["key"]})
        assert (undo["u"]["status"], undo["u"]["kind"], undo["u"]["by"]) == ("done", "unpause", "admin")
    finally:
        client.set_paused(DAG, paused_before)
        client.close()
        worker.close()
