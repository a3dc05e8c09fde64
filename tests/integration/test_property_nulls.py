"""FalkorDB 4.16.3 removes the wrong properties when one query removes two or more
properties of a node (orcai/graph/properties.py); ORC AI's writes must still leave exactly
what the record says. Real FalkorDB."""

from __future__ import annotations

import dataclasses
import random

import pytest

from orcai.alerts.outbox import AlertRequest
from orcai.graph import dag_store
from orcai.graph.alert_store import enqueue, mark_failed, mark_sent
from orcai.graph.incident_store import resolve_incidents, write_incidents
from orcai.graph.load import load_dag_runs, load_dags, mark_missing_dags
from orcai.graph.forecast_store import write_forecasts
from orcai.graph.lock import GraphLock
from orcai.graph.pool_store import forget_throttle
from orcai.graph.worker_store import worker_heartbeats, write_heartbeat
from orcai.model import DagRecord, DagRunRecord

pytestmark = pytest.mark.integration
FULL = dict(state="success", run_type="scheduled", logical_date=1, run_after=2, queued_at=3, start_date=4,
            end_date=5, duration_s=1.5, triggered_by="timetable")


@pytest.mark.xfail(strict=True, reason="FalkorDB 4.16.3: removing two properties in one query loses others; "
                                       "when this passes, orcai/graph/properties.py can go")
def test_the_engine_removes_two_properties_in_one_query(graph):
    graph.write("CREATE (n:Probe {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7})")
    graph.write("MATCH (n:Probe) SET n += {a: null, g: null}")
    assert graph.read("MATCH (n:Probe) RETURN properties(n) AS p")[0]["p"] == {"b": 2, "c": 3, "d": 4, "e": 5, "f": 6}


def test_updated_runs_whose_fields_turn_null_are_stored_exactly(graph):
    rng = random.Random(5)
    for i in range(40):
        first = DagRunRecord("etl", f"r{i}", **FULL)
        cleared = dataclasses.replace(first, **{k: None for k in rng.sample(sorted(FULL), rng.randint(2, 5))})
        load_dag_runs(graph, [first])
        load_dag_runs(graph, [cleared])
        stored = dict(graph.read("MATCH (n:DagRun {key: $k}) RETURN properties(n) AS p", {"k": cleared.key})[0]["p"])
        stored.pop("fp")
        assert stored == {k: v for k, v in cleared.props().items() if v is not None}, cleared


def test_a_heartbeat_clears_several_fields_at_once(graph):
    write_heartbeat(graph, "w", {"name": "w", "last_sync_at": 1, "last_error": "boom", "catchup_runs": 3,
                                 "catchup_days": 2.0, "catchup_left_s": 9, "last_ok_at": 1})
    write_heartbeat(graph, "w", {"name": "w", "last_sync_at": 2, "last_error": None, "catchup_runs": None,
                                 "catchup_days": None, "catchup_left_s": None, "last_ok_at": 2})
    assert worker_heartbeats(graph) == [{"name": "w", "last_sync_at": 2, "last_ok_at": 2}]


def test_a_summary_whose_fields_turn_null(graph):
    load_dags(graph, [DagRecord("etl", is_paused=False)])
    load_dag_runs(graph, [DagRunRecord("etl", "r1", "success", run_after=1, duration_s=3.0)])
    # A newer run that has not finished: no duration, and the success rate over one finished run stays.
    load_dag_runs(graph, [DagRunRecord("etl", "r2", "running", run_after=2)])
    load_dag_runs(graph, [DagRunRecord("etl", "r1", "running", run_after=1)])  # r1 cleared: no finished run
    row = graph.read("MATCH (d:Dag {dag_id: 'etl'}) RETURN d.last_run_state AS state, d.last_run_at AS at, "
                     "d.last_run_duration_s AS duration, d.success_rate AS rate, d.runs_considered AS runs")[0]
    assert row == {"state": "running", "at": 2, "duration": None, "rate": None, "runs": 2}


def props(graph, label: str, key: str, value) -> dict:
    return dict(graph.read(f"MATCH (n:{label} {{{key}: $v}}) RETURN properties(n) AS p", {"v": value})[0]["p"])


def test_a_released_lock_keeps_its_name_and_can_be_taken_again(graph):
    first, second = GraphLock(graph, "cycle", "a"), GraphLock(graph, "cycle", "b")
    assert first.acquire()
    first.release()
    assert props(graph, "Lock", "name", "cycle")["name"] == "cycle" and "holder" not in props(graph, "Lock", "name", "cycle")
    assert second.acquire() and not first.acquire()


@pytest.mark.parametrize("held_off_by", [None, "cpu-guard"])
def test_a_forgotten_throttle_keeps_the_pools_other_fields(graph, held_off_by):
    graph.write("CREATE (:Pool {name: 'db', original_slots: 8, episode: 3, held_off_by: 'old', occupied: 2, "
                "slots: 4, throttled_by: 'cpu-guard', throttled_at: 5})")
    forget_throttle(graph, "db", held_off_by)
    expected = {"name": "db", "original_slots": 8, "episode": 3, "occupied": 2, "slots": 4}
    assert props(graph, "Pool", "name", "db") == {**expected, **({"held_off_by": held_off_by} if held_off_by else {})}


def test_a_dag_gone_from_airflow_keeps_its_fields_and_forgets_its_watermark(graph):
    load_dags(graph, [DagRecord("etl", is_paused=False, owners=["ops"]), DagRecord("kept", is_paused=False)])
    graph.write("MATCH (d:Dag {dag_id: 'etl'}) SET d.synced_until = 7, d.criticality = 2")
    before = props(graph, "Dag", "dag_id", "etl")
    assert mark_missing_dags(graph, ["kept"], now_ms=99) == ["etl"]
    after = props(graph, "Dag", "dag_id", "etl")
    assert after == {**{k: v for k, v in before.items() if k not in ("fp", "synced_until")},
                     "is_deleted": True, "deleted_at": 99}


def test_a_reopened_incident_keeps_its_fields(graph):
    row = {"key": "i1", "opened_at": 1, "root_kind": "task", "root_key": "etl.load", "evidence": ["e"],
           "candidates": [], "symptoms": [], "props": {"summary": "s", "root_kind": "task", "root_key": "etl.load",
                                                        "root_dag": "etl", "size": 2, "updated_at": 1}}
    write_incidents(graph, [row])
    resolve_incidents(graph, ["i1"], at_ms=5)
    write_incidents(graph, [{**row, "props": {**row["props"], "root_dag": None, "size": 3, "updated_at": 9}}])
    stored = props(graph, "Incident", "key", "i1")
    assert stored == {"key": "i1", "opened_at": 1, "status": "open", "summary": "s", "root_kind": "task",
                      "root_key": "etl.load", "size": 3, "updated_at": 9, "evidence": '["e"]', "candidates": "[]"}


def test_an_alert_sent_after_a_failure_keeps_its_fields(graph):
    enqueue(graph, [AlertRequest("a1", "anomaly", {"x": 1}, 1, "etl")])
    mark_failed(graph, ["a1"], "503 from Slack", retry_at_ms=10)
    mark_sent(graph, ["a1"], now_ms=20, channel="#ops", slack_ts="123.4")
    stored = props(graph, "Alert", "key", "a1")
    assert "last_error" not in stored
    assert {k: stored[k] for k in ("key", "kind", "dag_id", "payload", "created_at", "status", "sent_at",
                                   "channel", "slack_ts")} == {
        "key": "a1", "kind": "anomaly", "dag_id": "etl", "payload": '{"x": 1}', "created_at": 1,
        "status": "sent", "sent_at": 20, "channel": "#ops", "slack_ts": "123.4"}


def test_a_cleared_deadline_keeps_the_dags_other_fields(graph):
    load_dags(graph, [DagRecord("etl", is_paused=False, owners=["ops"])])
    before = props(graph, "Dag", "dag_id", "etl")
    dag_store.set_dag_deadline(graph, "etl", "+2h", "admin", "sub-1", 5, "runs")
    dag_store.set_dag_deadline(graph, "etl", None, "admin", None, 9, None)
    assert props(graph, "Dag", "dag_id", "etl") == {**before, "deadline_set_by": "admin", "deadline_set_at": 9}


def test_a_forecast_whose_deadline_and_watch_go_keeps_the_runs_fields(graph):
    load_dag_runs(graph, [DagRunRecord("etl", "r1", "running", run_type="scheduled", logical_date=1, run_after=2,
                                       queued_at=3, start_date=4, triggered_by="timetable")])
    full = {"key": "etl/r1", "p50": 10, "p80": 12, "at": 5, "deadline": 11, "risk": 0.8, "risk_held": 0.7, "progress": 0.5,
            "watch_task": "load", "watch_reason": "slow", "windows": "{}"}
    write_forecasts(graph, [full], keep=5)
    before = props(graph, "DagRun", "key", "etl/r1")
    write_forecasts(graph, [{**full, "deadline": None, "risk": None, "risk_held": None, "watch_task": None,
                             "watch_reason": None, "at": 6}], keep=5)
    after = props(graph, "DagRun", "key", "etl/r1")
    gone = ("deadline", "breach_risk", "breach_risk_held", "watch_task", "watch_reason", "forecast_at", "eta_history")
    assert {k: v for k, v in after.items() if k not in gone} == {k: v for k, v in before.items() if k not in gone}
    assert not set(gone[:5]) & set(after) and after["forecast_at"] == 6


def test_a_run_without_an_eta_does_not_stop_the_others_forecasts(graph):
    load_dag_runs(graph, [DagRunRecord("etl", r, "running", run_after=1) for r in ("r1", "r2")])
    blank = {"at": 5, "deadline": None, "risk": None, "risk_held": None, "progress": 0.0, "watch_task": None, "watch_reason": None,
             "windows": "{}"}
    write_forecasts(graph, [{**blank, "key": "etl/r1", "p50": None, "p80": None},
                            {**blank, "key": "etl/r2", "p50": 10, "p80": 12}], keep=5)
    rows = graph.read("MATCH (r:DagRun) RETURN r.key AS key, r.forecast_at AS at, r.eta_p80 AS p80, "
                      "r.eta_history AS history ORDER BY key")
    assert rows == [{"key": "etl/r1", "at": 5, "p80": None, "history": []},
                    {"key": "etl/r2", "at": 5, "p80": 12, "history": [[5, 10, 12]]}]
