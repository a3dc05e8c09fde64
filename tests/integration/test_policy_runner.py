"""The policy stage against a real graph, with Airflow down: failures are retried, not lost
or duplicated; a condition that fails at run time disables its policy; the others go on."""

from __future__ import annotations

import json
import time

import pytest

from orcai.airflow import AirflowClient
from orcai.graph.alert_store import pending
from orcai.config import load_settings
from orcai.graph.load import load_dag_runs, load_dags
from orcai.model import DagRecord, DagRunRecord
from orcai.graph import policy_store as store
from orcai.policy.model import parse_policy
from orcai.policy.runner import PolicyRunner

pytestmark = pytest.mark.integration
HOUR = 3_600_000


@pytest.fixture
def failing_dags(graph):
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord(d, is_paused=False) for d in ("etl", "ml", "orcai_cycle")])
    load_dag_runs(graph, [DagRunRecord(d, f"r{i}", state="failed", run_type="scheduled",
                                       start_date=now - (3 - i) * HOUR, end_date=now - (3 - i) * HOUR + 1000,
                                       run_after=now - (3 - i) * HOUR)
                          for d in ("etl", "ml", "orcai_cycle") for i in range(2)])
    return now


def runner_and_dead_airflow(graph_uri, tmp_path, **settings):
    config = load_settings(graph_uri=graph_uri, airflow_url="http://127.0.0.1:9", airflow_token="t",
                           airflow_timeout_s=2, policies_dir=tmp_path, **settings)
    return PolicyRunner(config), AirflowClient(config)


def save(graph, now, **fields):
    data = {"name": "two-fail", "condition": "dag.consecutive_failures >= 2", "actions": ["pause"],
            "mode": "enforce"}
    return store.save_policy(graph, parse_policy({**data, **fields}), "test", now)


def test_airflow_down_keeps_the_action_for_the_next_cycle_without_duplicates(graph, graph_uri, failing_dags, tmp_path):
    now = failing_dags
    save(graph, now)
    runner, airflow = runner_and_dead_airflow(graph_uri, tmp_path)
    first = runner.run(graph, airflow, now)
    assert (first.fired, first.done, first.failed) == (3, 0, 2)  # orcai_cycle: recorded as skipped, not tried
    second = runner.run(graph, airflow, now + 60_000)
    assert second.failed == 2
    actions = {r["a"]["dag_id"]: r["a"] for r in graph.read("MATCH (a:Action) RETURN properties(a) AS a")}
    assert set(actions) == {"etl", "ml", "orcai_cycle"}
    assert actions["etl"]["status"] == "failed" and actions["etl"]["attempts"] == 2
    assert "unreachable" in actions["etl"]["last_error"]
    assert actions["orcai_cycle"]["status"] == "skipped" and "ORC AI's own" in actions["orcai_cycle"]["reason"]
    notices = [a for a in pending(graph, now + 120_000) if a.kind == "policy_action"]
    assert sorted(a.dag_id for a in notices) == ["etl", "ml"]  # one 'failed' notice each, not one per cycle
    assert {a.payload["outcome"] for a in notices} == {"failed"}


def test_hourly_cap_defers_the_rest(graph, graph_uri, failing_dags, tmp_path):
    save(graph, failing_dags, mode="enforce")
    runner, airflow = runner_and_dead_airflow(graph_uri, tmp_path, policy_max_actions_per_hour=0)
    report = runner.run(graph, airflow, failing_dags)
    statuses = {r["s"] for r in graph.read("MATCH (a:Action) WHERE a.dag_id <> 'orcai_cycle' RETURN a.status AS s")}
    assert report.failed == 0 and statuses == {"deferred"}


def test_a_condition_failing_at_run_time_disables_only_its_policy(graph, graph_uri, failing_dags, tmp_path):
    now = failing_dags
    save(graph, now, name="divides", condition="dag.runs_24h / (dag.consecutive_failures - 2) > 0")
    save(graph, now, name="dry", mode="dry_run")
    runner, airflow = runner_and_dead_airflow(graph_uri, tmp_path)
    report = runner.run(graph, airflow, now)
    assert report.disabled == ["divides"]
    broken = store.get_policy(graph, "divides")
    assert not broken.enabled and "division by zero" in broken.disabled_reason and broken.version == 2
    assert [h["change"] for h in store.policy_history(graph, "divides")] == ["auto-disable", "edit"]
    [notice] = [a for a in pending(graph, now + 1) if a.kind == "policy_disabled"]
    assert notice.payload["policy"] == "divides" and "division by zero" in notice.payload["error"]
    would = graph.read("MATCH (:Policy {name: 'dry'})-[:FIRED]->(a:Action {status: 'would_do'}) "
                       "RETURN a.dag_id AS dag ORDER BY dag")
    assert [r["dag"] for r in would] == ["etl", "ml"]
    assert json.loads(graph.read("MATCH (a:Action {dag_id: 'etl'}) RETURN a.facts AS f")[0]["f"])["dag"]["id"] == "etl"


def test_default_policies_installed_once_and_never_over_an_operator_change(graph, graph_uri, failing_dags):
    config = load_settings(graph_uri=graph_uri)
    runner = PolicyRunner(config)
    runner.run(graph, None, failing_dags)
    names = {p.name for p in store.load_policies(graph)}
    assert {"two-failures-pause", "airflow-parity-consecutive-failures"} <= names
    store.delete_policy(graph, "two-failures-pause", "admin", failing_dags)
    PolicyRunner(config).run(graph, None, failing_dags)
    assert "two-failures-pause" not in {p.name for p in store.load_policies(graph)}


def test_facts_count_every_run_of_the_last_day_and_the_anomalies_of_the_last_run(graph):
    from orcai.graph.anomaly_store import load_anomalies
    from orcai.policy.runner import current_facts
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("busy", is_paused=False)])
    load_dag_runs(graph, [DagRunRecord("busy", f"r{i:03}", state="failed" if i % 4 == 0 else "success",
                                       run_after=now - i * 10 * 60_000, start_date=now - i * 10 * 60_000,
                                       end_date=now - i * 10 * 60_000 + 1000, duration_s=1.0)
                          for i in range(1, 200)])  # every 10 min: 144 runs in the last 24 h
    load_anomalies(graph, [{"key": "slow:busy/r001", "kind": "slow", "score": 4.0, "severity": "high",
                            "reason": "slow", "detector": "robust", "detected_at": now, "dag_id": "busy",
                            "task_id": "t", "run_id": "r001", "status": "open",
                            "target_label": "DagRun", "target_key": "busy/r001"}])
    facts = current_facts(graph, now)["busy"]
    assert facts["dag"]["runs_24h"] == 144
    assert facts["dag"]["failure_rate_24h"] == pytest.approx(36 / 144)
    assert facts["run"]["id"] == "r001" and facts["anomaly"] == {"kind": "slow", "score": 4.0, "severity": "high"}


def test_a_slow_condition_is_stopped_within_its_budget_and_its_policy_disabled(graph, graph_uri, tmp_path):
    """Passes the static estimate (two comprehensions over tags, assumed 100 long) but the DAG
    has 3,000 tags: 9 million steps. The worker stops it at its budget and disables it."""
    now = int(time.time() * 1000)
    load_dags(graph, [DagRecord("tagged", is_paused=False, tags=tuple(f"t{i}" for i in range(3000)))])
    save(graph, now, name="slow", condition="dag.tags.exists(a, dag.tags.exists(b, a + b == 'never'))",
         actions=["alert"])
    save(graph, now, name="fine", condition="dag.runs_24h >= 0", actions=["alert"], mode="dry_run")
    runner, airflow = runner_and_dead_airflow(graph_uri, tmp_path, policy_eval_budget_s=0.5)
    started = time.monotonic()
    report = runner.run(graph, airflow, now)
    assert time.monotonic() - started < 10  # unbounded, it runs for minutes
    assert report.disabled == ["slow"]
    slow = store.get_policy(graph, "slow")
    assert not slow.enabled and slow.version == 2 and "time budget" in slow.disabled_reason
    assert store.policy_history(graph, "slow")[0]["change"] == "auto-disable"
    assert report.fired == 1  # the other policy carried on
