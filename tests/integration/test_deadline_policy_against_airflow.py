"""The shipped "deadline-breach-risk" policy against a real Airflow 3.3.

deadline_report (tag `deadline:+1m`) runs three times as usual (transform: 2 s), then once
with its transform slowed to two minutes. While that run is still going, the real worker's
cycle (sync, detection, forecasts, incidents, policies, Slack) forecasts it past its
deadline; the shipped policy (dry run) records a would-be alert whose reason names the task
to watch, and the message reaches Slack (the local sink) saying by how much and why.
"""

from __future__ import annotations

import json
import time

import pytest

from orcai.airflow import AirflowClient
from orcai.errors import AirflowUnreachable
from tests.conftest import trigger
from workers.worker import Worker

pytestmark = pytest.mark.integration

DAG = "deadline_report"
POLICY = "deadline-breach-risk"
SLOW_S = 120


def _state(item) -> str:
    return str(getattr(item.state, "value", item.state))


def _runs(client: AirflowClient) -> list:
    try:
        return sorted(client.list_dag_runs(DAG, None), key=lambda r: r.run_after)
    except AirflowUnreachable:  # a slow answer from a busy Airflow: asked again
        return []


def _running(client: AirflowClient, run_id: str, task_id: str) -> bool:
    try:
        instances = client.list_task_instances(DAG, None)
    except AirflowUnreachable:
        return False
    return any(ti.dag_run_id == run_id and ti.task_id == task_id and _state(ti) == "running" for ti in instances)


def _wait(what: str, ready, timeout_s: float = 480, every_s: float = 2, seen=lambda: ""):
    """`ready()`'s value once truthy; a timeout says what was awaited and what was seen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := ready():
            return value
        time.sleep(every_s)
    raise TimeoutError(f"no {what} within {timeout_s} s; seen: {seen()}")


def _usual_history(client: AirflowClient, successes: int, most_runs: int = 6) -> None:
    """At least `successes` usual runs (transform: 2 s). A busy shared machine now and then
    loses a task before it starts (it fails in "Pre Execute"): such a run is replaced."""
    missing, triggered = successes, 0
    while missing > 0:
        assert triggered + missing <= most_runs, [(r.dag_run_id, _state(r)) for r in _runs(client)]
        for _ in range(missing):
            trigger(client, DAG)
        triggered += missing
        runs = _wait("finished runs", lambda: _all_finished(client, triggered),
                     seen=lambda: [(r.dag_run_id, _state(r)) for r in _runs(client)])
        missing = successes - sum(_state(r) == "success" for r in runs)


def _all_finished(client: AirflowClient, at_least: int) -> list | None:
    runs = _runs(client)
    return runs if len(runs) >= at_least and all(_state(r) in ("success", "failed") for r in runs) else None


def _breach_alerts(graph) -> list[dict]:
    rows = graph.read("MATCH (p:Policy {name: $p})-[:FIRED]->(a:Action)-[:TARGETS]->(:Dag {dag_id: $d}) "
                      "RETURN properties(a) AS a", {"p": POLICY, "d": DAG})
    return [r["a"] for r in rows]


def test_shipped_deadline_policy_warns_slack_while_a_slowed_run_is_still_going(airflow, graph_uri, slack_sink):
    client = AirflowClient(airflow.settings())
    _wait(f"{DAG} parsed", lambda: DAG in {d.dag_id for d in client.list_dags()}, timeout_s=180, every_s=1)
    client.set_paused(DAG, False)
    worker, slow = None, None
    try:
        _usual_history(client, successes=3)
        slow = trigger(client, DAG, conf={"sleep_s": SLOW_S})
        _wait("the slowed transform running", lambda: _running(client, slow.dag_run_id, "transform"), timeout_s=120)

        worker = Worker(airflow.settings(graph_uri=graph_uri, sync_lookback_days=1,
                                         slack_webhook_url=slack_sink.webhook_url("deadlines")))

        def alerted() -> list[dict]:
            worker.cycle()
            return _breach_alerts(worker.graph)
        [alert] = _wait("a breach alert", alerted, timeout_s=SLOW_S, every_s=3)

        # Told before it was late: the slowed run is still going when the alert is decided.
        assert _state(client.get_dag_run(DAG, slow.dag_run_id)) in ("running", "queued")
        facts = json.loads(alert["facts"])["run"]
        assert (alert["status"], alert["kind"], alert["dry_run"]) == ("would_do", "alert", True)
        assert facts["active_id"] == slow.dag_run_id and facts["breach_risk"] >= 0.7
        assert facts["watch"].startswith("transform: running for")
        assert "risk of missing its deadline" in alert["reason"] and "watch transform" in alert["reason"]

        [sent] = slack_sink.wait_for(lambda m: "deadlines" in m.path and DAG in m.text
                                     and "will likely miss its deadline" in m.text, count=1, timeout_s=60)
        assert f"run {slow.dag_run_id}" in sent.text and "min late" in sent.text
        assert "Watch transform: running for" in sent.text, sent.text
    finally:
        client.set_paused(DAG, True)
        if slow is not None:  # end the slowed run: later tests compare syncs and want Airflow still
            if _state(client.get_dag_run(DAG, slow.dag_run_id)) in ("running", "queued"):
                client.set_dag_run_state(DAG, slow.dag_run_id, "failed")
            _wait("the slowed run ended", lambda: _state(client.get_dag_run(DAG, slow.dag_run_id))
                  in ("success", "failed"), timeout_s=120)
            _wait("its transform stopped", lambda: not _running(client, slow.dag_run_id, "transform"), timeout_s=120)
        client.close()
        if worker is not None:
            worker.close()
